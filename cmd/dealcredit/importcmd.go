package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"dealcredit/adoption"
	"dealcredit/api"
)

// importCmd sends the import files of a directory to the daemon's admin
// endpoint (POST /v1/admin/import), the one path by which the program as
// it stands is loaded; the daemon validates and decides the whole import.
func (e *env) importCmd() *cobra.Command {
	var f apiFlags
	var dryRun bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "import DIR",
		Short: "load the program as it stands (partners and tier history, registrations, engagement steps, past invoices) from the files in DIR (docs/import.md)",
		Long: "import sends " + strings.Join(adoption.Files, ", ") + " (each optional) from DIR to the daemon at\n" +
			"DEALCREDIT_HTTP_ADDR with an admin token (--token, or the tokens file's). The daemon checks every row first: one\n" +
			"bad row refuses the whole import (each named file:line: field) and nothing is appended. Importing the same\n" +
			"files again appends nothing.",
		Example: "  dealcredit import docs/import-example\n  dealcredit import --dry-run ./adoption",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := adoption.ReadDir(args[0])
			if err != nil {
				return err
			}
			c, err := e.apiClient(&f, nil)
			if err != nil {
				return err
			}
			c.hc.Timeout = timeout
			raw, err := postImport(cmd.Context(), c, files, dryRun)
			if err != nil {
				return e.importRefused(err)
			}
			if f.jsonOut {
				fmt.Fprintln(e.stdout, strings.TrimSpace(string(raw)))
				return nil
			}
			var ans api.ImportAnswer
			if err := json.Unmarshal(raw, &ans); err != nil {
				return fmt.Errorf("import: the daemon's answer: %w", err)
			}
			e.printImport(args[0], ans)
			return nil
		},
	}
	e.addAPIFlags(cmd, &f, api.RoleAdmin)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check and decide the import, append nothing")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the daemon's answer")
	return cmd
}

// printImport prints what an import did.
func (e *env) printImport(dir string, ans api.ImportAnswer) {
	verb := "appended"
	if ans.DryRun {
		verb = "would append (dry run, nothing appended)"
	}
	fmt.Fprintf(e.stdout, "import %s: %d rows, %d already recorded (skipped), %s %d events, log position %d\n",
		dir, ans.Rows, ans.Skipped, verb, ans.Appended, ans.Position)
	for _, t := range slices.Sorted(maps.Keys(ans.Events)) {
		fmt.Fprintf(e.stdout, "  %-26s %d\n", t, ans.Events[t])
	}
}

// importRefused prints each refused row of a refused import to stderr as
// "file:line: field F: ..." and says nothing was appended; other errors
// pass as they are.
func (e *env) importRefused(err error) error {
	var ae *apiError
	if !errors.As(err, &ae) || len(ae.Problem.Errors) == 0 {
		return err
	}
	for _, r := range ae.Problem.Errors {
		fmt.Fprintln(e.stderr, r.Error())
	}
	return errors.New("import refused, nothing appended: " + plural(len(ae.Problem.Errors), "row") + " above")
}

// postImport sends files as one multipart body, each part named by its file.
func postImport(ctx context.Context, c *apiClient, files map[string][]byte, dryRun bool) ([]byte, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, name := range adoption.Files {
		b, ok := files[name]
		if !ok {
			continue
		}
		part, err := mw.CreateFormFile(name, name)
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		if _, err := part.Write(b); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	path := "/v1/admin/import"
	if dryRun {
		path += "?dry_run=true"
	}
	return c.send(ctx, http.MethodPost, path, &body, "Content-Type", mw.FormDataContentType())
}

// plural is "1 row" or "3 rows".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
