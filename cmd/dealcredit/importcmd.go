package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"dealcredit/adoption"
	"dealcredit/api"
	"dealcredit/cmd/dealcredit/demo"
)

// importCmd sends the import files of a directory to the daemon's admin
// endpoint (POST /v1/admin/import), the one path by which the program as
// it stands is loaded; the daemon validates and decides the whole import.
func (e *env) importCmd() *cobra.Command {
	var dryRun bool
	var token string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "import DIR",
		Short: "load the program as it stands (partners and tier history, registrations, engagement steps, past invoices) from the files in DIR (docs/import.md)",
		Long: "import sends " + strings.Join(adoption.Files, ", ") + " (each optional) from DIR to the daemon at\n" +
			"DEALCREDIT_HTTP_ADDR with an admin token of DEALCREDIT_TOKENS_FILE. The daemon checks every row first: one\n" +
			"bad row refuses the whole import (each named file:line: field) and nothing is appended. Importing the same\n" +
			"files again appends nothing.",
		Example: "  dealcredit import docs/import-example\n  dealcredit import --dry-run ./adoption",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := adoption.ReadDir(args[0])
			if err != nil {
				return err
			}
			if token == "" {
				if token, err = e.adminToken(); err != nil {
					return err
				}
			}
			ans, err := e.postImport(cmd, files, token, dryRun, timeout)
			if err != nil {
				return err
			}
			verb := "appended"
			if ans.DryRun {
				verb = "would append (dry run, nothing appended)"
			}
			fmt.Fprintf(e.stdout, "import %s: %d rows, %d already recorded (skipped), %s %d events, log position %d\n",
				args[0], ans.Rows, ans.Skipped, verb, ans.Appended, ans.Position)
			for _, t := range slices.Sorted(maps.Keys(ans.Events)) {
				fmt.Fprintf(e.stdout, "  %-26s %d\n", t, ans.Events[t])
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check and decide the import, append nothing")
	cmd.Flags().StringVar(&token, "token", "", "admin API token (default: the first admin token of the tokens file)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the daemon's answer")
	return cmd
}

// adminToken is the first admin token of the tokens file.
func (e *env) adminToken() (string, error) {
	tokens, err := demo.LoadTokens(e.cfg.TokensFile)
	if err != nil {
		return "", err
	}
	for _, t := range tokens {
		if t.Role == api.RoleAdmin {
			return t.Token, nil
		}
	}
	return "", fmt.Errorf("import: no admin token in %s (or pass --token)", e.cfg.TokensFile)
}

// postImport sends files as one multipart body and reads the answer; a
// refusal prints each refused row to stderr as "file:line: field F: ...".
func (e *env) postImport(cmd *cobra.Command, files map[string][]byte, token string, dryRun bool, timeout time.Duration) (api.ImportAnswer, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, name := range adoption.Files {
		b, ok := files[name]
		if !ok {
			continue
		}
		part, err := mw.CreateFormFile(name, name)
		if err != nil {
			return api.ImportAnswer{}, fmt.Errorf("import: %w", err)
		}
		if _, err := part.Write(b); err != nil {
			return api.ImportAnswer{}, fmt.Errorf("import: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return api.ImportAnswer{}, fmt.Errorf("import: %w", err)
	}
	url := "http://" + e.cfg.HTTPAddr + "/v1/admin/import"
	if dryRun {
		url += "?dry_run=true"
	}
	req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, url, &body)
	if err != nil {
		return api.ImportAnswer{}, fmt.Errorf("import: %w", err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return api.ImportAnswer{}, fmt.Errorf("import: is the daemon running at %s? %w", e.cfg.HTTPAddr, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return api.ImportAnswer{}, fmt.Errorf("import: read the answer: %w", err)
	}
	if resp.StatusCode == http.StatusOK {
		var ans api.ImportAnswer
		if err := json.Unmarshal(raw, &ans); err != nil {
			return api.ImportAnswer{}, fmt.Errorf("import: the daemon's answer: %w", err)
		}
		return ans, nil
	}
	var p api.Problem
	if json.Unmarshal(raw, &p) != nil || p.Detail == "" {
		return api.ImportAnswer{}, fmt.Errorf("import: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(raw))
	}
	if len(p.Errors) == 0 {
		return api.ImportAnswer{}, fmt.Errorf("import: HTTP %d: %s", resp.StatusCode, p.Detail)
	}
	for _, r := range p.Errors {
		fmt.Fprintln(e.stderr, r.Error())
	}
	return api.ImportAnswer{}, errors.New("import refused, nothing appended: " + plural(len(p.Errors), "row") + " above")
}

// plural is "1 row" or "3 rows".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
