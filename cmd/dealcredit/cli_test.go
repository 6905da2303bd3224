package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"dealcredit/internal/testkit/daemontest"
	"dealcredit/projections/runner"
)

// cli runs the dealcredit command against d and returns its output and error.
func cli(t *testing.T, d *daemontest.Daemon, args ...string) (string, error) {
	t.Helper()
	env := map[string]string{
		"DATABASE_URL":           d.Env["DATABASE_URL"],
		"NATS_URL":               d.NATSURL,
		"DEALCREDIT_HTTP_ADDR":   strings.TrimPrefix(d.URL, "http://"),
		"DEALCREDIT_DATA_DIR":    d.Env["DEALCREDIT_DATA_DIR"],
		"DEALCREDIT_TOKENS_FILE": filepath.Join(d.Env["DEALCREDIT_DATA_DIR"], "tokens.json"),
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return out.String() + errOut.String(), err
}

// TestAuditorAndFinanceCommands drives the CLI against a real daemon after
// the demo filled it: verify (chain, mirror, projections), export (the same
// bytes as the API's CSV), replay as of the head (the same ledger), explain,
// and verify failing with the bad position after tampering.
func TestAuditorAndFinanceCommands(t *testing.T) {
	d := daemontest.Start(t, nil)
	out, err := cli(t, d, "demo", "--run-id", "cli")
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	quarter := between(out, "the story's quarter is ", ",")
	if quarter == "" {
		t.Fatalf("demo output names no quarter:\n%s", out)
	}

	out, err = cli(t, d, "verify", "--projections")
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	for _, want := range []string{"ok   log:", "ok   mirror:", "ok   projection attribution"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}

	exported, err := cli(t, d, "export", "attribution", "--quarter", quarter, "--format", "csv")
	if err != nil {
		t.Fatalf("export: %v\n%s", err, exported)
	}
	req, _ := http.NewRequest("GET", d.URL+"/v1/attribution?quarter="+quarter, nil)
	req.Header.Set("Authorization", "Bearer "+d.Token(t, "finance"))
	req.Header.Set("Accept", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	apiCSV, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(apiCSV) != exported {
		t.Fatalf("GET /v1/attribution CSV (%d) differs from dealcredit export:\nAPI:\n%s\nCLI:\n%s", resp.StatusCode, apiCSV, exported)
	}
	rows := readCSV(t, exported)
	if len(rows) < 5 {
		t.Fatalf("export has %d rows, want the demo's ledger lines", len(rows))
	}

	dir := t.TempDir()
	if out, err := cli(t, d, "replay", "--as-of", "now", "--out", dir); err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "attribution.csv"))
	if err != nil {
		t.Fatal(err)
	}
	replayed := readCSV(t, string(b))
	qcol := indexOf(replayed[0], "quarter")
	var inQuarter [][]string
	inQuarter = append(inQuarter, replayed[0])
	for _, r := range replayed[1:] {
		if r[qcol] == quarter {
			inQuarter = append(inQuarter, r)
		}
	}
	if got, want := join(inQuarter), join(rows); got != want {
		t.Fatalf("replay of the whole log differs from the live ledger for %s:\nreplay:\n%s\nlive:\n%s", quarter, got, want)
	}

	out, err = cli(t, d, "explain", "--oem", "hp", "--invoice", "HP-cli-0001", "--line", "1")
	if err != nil {
		t.Fatalf("explain: %v\n%s", err, out)
	}
	// The demo's line 1: 100 x 45.00 USD to the platinum VAR at 800 bps.
	rebate := "4,500.00 USD x 8.00% = 360.00 -> 360.00 USD, half away from zero, per line"
	for _, want := range []string{"revenue", "rebate", "invoice.received", "deal.approved", "  arithmetic: " + rebate + "\n", "  booked by: #"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
	out, err = cli(t, d, "explain", "--oem", "hp", "--invoice", "HP-cli-0001", "--line", "1", "--json")
	if err != nil {
		t.Fatalf("explain --json: %v\n%s", err, out)
	}
	var ex struct {
		Credits []struct {
			Kind       string `json:"kind"`
			Amount     int64  `json:"amount_minor"`
			Base       int64  `json:"base_minor"`
			RateBPS    int64  `json:"rate_bps"`
			Arithmetic string `json:"arithmetic"`
			BookedBy   struct {
				Type string `json:"type"`
			} `json:"booked_by"`
		} `json:"credits"`
	}
	if err := json.Unmarshal([]byte(out), &ex); err != nil {
		t.Fatalf("explain --json is not JSON: %v\n%s", err, out)
	}
	found := false
	for _, c := range ex.Credits {
		if c.Kind == "rebate" {
			found = c.Amount == 36000 && c.Base == 450000 && c.RateBPS == 800 && c.Arithmetic == rebate && c.BookedBy.Type != ""
		}
	}
	if !found {
		t.Errorf("explain --json has no rebate 36000 = 450000 x 800 bps with its arithmetic:\n%s", out)
	}
	if out, err := cli(t, d, "explain", "--oem", "hp", "--invoice", "NOPE", "--line", "1"); err == nil || !strings.Contains(err.Error(), "no credit booked") {
		t.Errorf("explain of an unknown invoice = %v, %s", err, out)
	}

	// A generated log on top, then a rebuild that swaps in equal tables.
	if out, err := cli(t, d, "gen", "log", "--events", "400"); err != nil || !strings.Contains(out, "appended a generated log of 400 events") {
		t.Fatalf("gen log: %v\n%s", err, out)
	}
	if out, err := cli(t, d, "gen", "log", "--events", "0"); err == nil || !strings.Contains(err.Error(), "--events") {
		t.Fatalf("gen log --events 0 = %v\n%s", err, out)
	}
	if out, err := cli(t, d, "rebuild", "attribution"); err != nil || !strings.Contains(out, "projection attribution rebuilt and swapped in") {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	if out, err := cli(t, d, "verify", "--projections", "--no-mirror"); err != nil || !strings.Contains(out, "ok   projection attribution") {
		t.Fatalf("verify after rebuild: %v\n%s", err, out)
	}

	// Tamper with one event as the superuser: verify must fail naming it.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, d.Env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{
		"ALTER TABLE events DISABLE TRIGGER USER",
		`UPDATE events SET data = '{"tampered": true}' WHERE position = 7`,
		"ALTER TABLE events ENABLE TRIGGER USER",
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	out, err = cli(t, d, "verify", "--no-mirror")
	var f failure
	if !errors.As(err, &f) || f.code != 2 || !strings.Contains(out, "FAIL log: first bad position 7") {
		t.Fatalf("verify after tampering = %v:\n%s", err, out)
	}
}

// The commands that fold the whole log run under runner.MemoryLimit unless
// GOMEMLIMIT is set; the others are left alone.
func TestFoldCommandsGetASoftMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		gomemlim  string
		wantLimit int64
	}{
		{[]string{"rebuild", "attribution"}, "", runner.MemoryLimit},
		{[]string{"replay", "--as-of", "1", "--out", t.TempDir()}, "", runner.MemoryLimit},
		{[]string{"verify"}, "", runner.MemoryLimit},
		{[]string{"rebuild", "attribution"}, "200MiB", 0},
		{[]string{"export", "attribution"}, "", 0},
	} {
		var got int64
		env := map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?connect_timeout=1", "GOMEMLIMIT": tc.gomemlim}
		_ = execute(context.Background(), tc.args, func(k string) string { return env[k] }, io.Discard, io.Discard,
			func(n int64) int64 { got = n; return 0 })
		if got != tc.wantLimit {
			t.Errorf("%v with GOMEMLIMIT=%q: limit %d, want %d", tc.args, tc.gomemlim, got, tc.wantLimit)
		}
	}
}

func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}

func readCSV(t *testing.T, s string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v\n%s", err, s)
	}
	return rows
}

func indexOf(header []string, name string) int {
	for i, h := range header {
		if h == name {
			return i
		}
	}
	return -1
}

func join(rows [][]string) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(strings.Join(r, ","))
		b.WriteByte('\n')
	}
	return b.String()
}
