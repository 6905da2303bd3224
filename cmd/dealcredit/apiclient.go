package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"dealcredit/api"
	"dealcredit/app"
	"dealcredit/cmd/dealcredit/demo"
)

// apiFlags are the flags of the commands that drive the daemon's HTTP API.
type apiFlags struct {
	token       string // --token (DEALCREDIT_TOKEN)
	role        string // --as: the role whose token is read from the tokens file
	minPosition int64  // --min-position, for queries
	jsonOut     bool   // --json: print the API's JSON answer as is
}

// addAPIFlags adds the API flags to a command group; role is the default of --as.
func (e *env) addAPIFlags(cmd *cobra.Command, f *apiFlags, role api.Role) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.token, "token", e.getenv("DEALCREDIT_TOKEN"), "API bearer token (DEALCREDIT_TOKEN); default: the --as role's first token in the tokens file")
	pf.StringVar(&f.role, "as", string(role), "role whose token is taken from the tokens file when no --token is given")
	pf.Int64Var(&f.minPosition, "min-position", 0, "queries: wait until the read models reflect this log position (a command's printed position)")
	pf.BoolVar(&f.jsonOut, "json", false, "print the API's JSON answer instead of a table")
}

// apiClient calls the daemon's HTTP API with one token.
type apiClient struct {
	base  string
	token string
	hc    *http.Client
	// flags maps the API's field names to the command's flags, so that a
	// problem naming a field also names the flag to fix.
	flags map[string]string
}

// apiClient returns a client for the daemon at --http-addr with the token of f.
func (e *env) apiClient(f *apiFlags, flags map[string]string) (*apiClient, error) {
	tok := f.token
	if tok == "" {
		tokens, err := demo.LoadTokens(e.cfg.TokensFile)
		if err != nil {
			return nil, fmt.Errorf("%w (or pass --token)", err)
		}
		for _, t := range tokens {
			if string(t.Role) == f.role {
				tok = t.Token
				break
			}
		}
		if tok == "" {
			return nil, fmt.Errorf("--as: no %q token in %s", f.role, e.cfg.TokensFile)
		}
	}
	host, port, err := net.SplitHostPort(e.cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("--http-addr %q: %w", e.cfg.HTTPAddr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return &apiClient{base: "http://" + net.JoinHostPort(host, port), token: tok, hc: &http.Client{Timeout: 30 * time.Second}, flags: flags}, nil
}

// apiError is an answer of the API with a status of 300 or more; Problem is
// its problem body (application/problem+json), when it has one.
type apiError struct {
	Method, Path string
	Status       int
	Problem      struct {
		Detail string `json:"detail"`
		Field  string `json:"field"`
		Rule   string `json:"rule"`
		// Errors are the refused rows of an import.
		Errors []app.RowError `json:"errors"`
	}
	Body string
	Flag string // the command's flag for Problem.Field
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	p := e.Problem
	if p.Detail == "" {
		if body := strings.TrimSpace(e.Body); body != "" {
			fmt.Fprintf(&b, ": %.300s", body)
		}
		return b.String()
	}
	if p.Rule != "" {
		fmt.Fprintf(&b, " (rule %s)", p.Rule)
	}
	if p.Field != "" {
		fmt.Fprintf(&b, " field %s", p.Field)
		if e.Flag != "" {
			fmt.Fprintf(&b, " (%s)", e.Flag)
		}
	}
	fmt.Fprintf(&b, ": %s", p.Detail)
	return b.String()
}

// do sends one request; body, when not nil, is sent as JSON. It returns the
// answer's body, and an *apiError for a status of 300 or more.
func (c *apiClient) do(ctx context.Context, method, path string, body any, headers ...string) ([]byte, error) {
	if body == nil {
		return c.send(ctx, method, path, nil, headers...)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", method, path, err)
	}
	return c.send(ctx, method, path, bytes.NewReader(b), append([]string{"Content-Type", "application/json"}, headers...)...)
}

// send sends one request with body as it is (headers name its content
// type) and returns the answer's body, or an *apiError for a status of 300
// or more.
func (c *apiClient) send(ctx context.Context, method, path string, body io.Reader, headers ...string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s (is the daemon running at %s? set DEALCREDIT_HTTP_ADDR): %w", method, path, c.base, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		ae := &apiError{Method: method, Path: path, Status: resp.StatusCode, Body: string(out)}
		_ = json.Unmarshal(out, &ae.Problem)
		ae.Flag = c.flags[ae.Problem.Field]
		return nil, ae
	}
	return out, nil
}

// query reads path with the query parameters q (empty values left out) and
// decodes its data field into out.
func (c *apiClient) query(ctx context.Context, path string, q url.Values, minPosition int64, out any) (raw []byte, err error) {
	if minPosition > 0 {
		q.Set("min_position", strconv.FormatInt(minPosition, 10))
	}
	if enc := encodeSet(q); enc != "" {
		path += "?" + enc
	}
	raw, err = c.do(ctx, http.MethodGet, path, nil)
	if err != nil || out == nil {
		return raw, err
	}
	var res struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return raw, fmt.Errorf("GET %s: decode answer: %w", path, err)
	}
	if err := json.Unmarshal(res.Data, out); err != nil {
		return raw, fmt.Errorf("GET %s: decode data: %w", path, err)
	}
	return raw, nil
}

// commandResult is the answer of a command (api.CommandResult).
type commandResult struct {
	Position int64    `json:"position"`
	ID       string   `json:"id"`
	Status   string   `json:"status"`
	Events   []string `json:"events"`
}

// command sends a command and decodes its answer.
func (c *apiClient) command(ctx context.Context, method, path string, body any, headers ...string) (commandResult, []byte, error) {
	raw, err := c.do(ctx, method, path, body, headers...)
	if err != nil {
		return commandResult{}, nil, err
	}
	var res commandResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return res, raw, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return res, raw, nil
}

// printCommand prints a command's answer: the JSON as is, or one line.
func (e *env) printCommand(f *apiFlags, raw []byte, res commandResult, what string) {
	if f.jsonOut {
		fmt.Fprintln(e.stdout, strings.TrimSpace(string(raw)))
		return
	}
	events := "nothing appended (already recorded)"
	if len(res.Events) > 0 {
		events = strings.Join(res.Events, ", ")
	}
	fmt.Fprintf(e.stdout, "%s: %s at position %d\n", what, events, res.Position)
}

// requireFlags makes cmd refuse to run, before it connects, unless each flag
// of names (flag name, then what it takes, in pairs) is set.
func requireFlags(cmd *cobra.Command, names ...string) {
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		for i := 0; i+1 < len(names); i += 2 {
			if !cmd.Flags().Changed(names[i]) {
				return fmt.Errorf("--%s is required (%s)", names[i], names[i+1])
			}
		}
		return nil
	}
}
