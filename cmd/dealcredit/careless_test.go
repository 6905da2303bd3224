package main

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"dealcredit/internal/testkit/daemontest"
	"dealcredit/internal/testkit/natstest"
	"dealcredit/internal/testkit/pgtest"
)

// TestCarelessInput: each mistake a careless user makes is refused before
// anything connects or is sent, non-zero, naming the flag, the argument or
// the file's line. Before: `export bogus` and `gen` printed help and exited
// 0; `publish --oem "h p"` and `publish --oem hp DIR` printed "published 0
// lines" and then an error from deep inside; an empty FILE "published 0
// lines" and exited 0; a 2 MiB line said "bufio.Scanner: token too long"
// with no line number; a replay as of a future time or `tail --after -5`
// ran as if the value were fine; `gen invoices` generated from nonsense.
func TestCarelessInput(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `{"schema":"dealcredit.oem_invoice.v1","oem_id":"hp"}` + "\n"
	empty := file("empty.jsonl", "")
	blank := file("blank.jsonl", "\n  \n\n")
	big := file("big.jsonl", good+good+`{"pad":"`+strings.Repeat("x", 2<<20)+`"}`+"\n"+good)
	feed := file("feed.jsonl", good)
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"export"}, `export: name a command: attribution`},
		{[]string{"export", "bogus"}, `unknown command "bogus" for "dealcredit export" (commands: attribution)`},
		{[]string{"export", "atribution", "--quarter", "current"}, `unknown command "atribution" for "dealcredit export"; did you mean attribution?`},
		{[]string{"gen"}, `gen: name a command: invoices, log`},
		{[]string{"gen", "invoice"}, `unknown command "invoice" for "dealcredit gen"`},
		{[]string{"projection", "stats"}, `unknown command "stats" for "dealcredit projection"`},
		{[]string{"exceptions", "lst"}, `unknown command "lst" for "dealcredit exceptions"`},
		{[]string{"statements"}, `statements: name a command: approve, show`},
		{[]string{"publish", "--oem", "h p", feed}, `--oem: "h p" is not an OEM id (lower case letters, digits, '_' and '-', at most 32 characters)`},
		{[]string{"publish", "--oem", "HP", feed}, `--oem: "HP" is not an OEM id`},
		{[]string{"publish", "--oem", "hp", sub}, "FILE: " + sub + " is a directory, not a JSON lines file"},
		{[]string{"publish", "--oem", "hp", filepath.Join(dir, "nope.jsonl")}, "FILE: open " + filepath.Join(dir, "nope.jsonl") + ": no such file or directory"},
		{[]string{"publish", "--oem", "hp", empty}, "FILE: " + empty + " has no lines to publish; nothing was published"},
		{[]string{"publish", "--oem", "hp", blank}, "FILE: " + blank + " has no lines to publish; nothing was published"},
		{[]string{"publish", "--oem", "hp", big}, "FILE: " + big + ": line 3: longer than 1048576 bytes, the largest message; nothing was published"},
		{[]string{"replay", "--as-of", "2999-01-01T00:00:00+05:30", "--out", dir}, "--as-of: 2999-01-01T00:00:00+05:30 is in the future"},
		{[]string{"tail", "--after", "-5"}, "--after: want a position of 0 or more, got -5"},
		{[]string{"tail", "--limit", "-1"}, "--limit: want 0 (no limit) or more, got -1"},
		{[]string{"gen", "invoices", "--invoices", "0"}, "--invoices: want 1 or more, got 0"},
		{[]string{"gen", "invoices", "--lines", "0"}, "--lines: want 1 or more, got 0"},
		{[]string{"gen", "invoices", "--customers", "0"}, "--customers: want 1 or more, got 0"},
		{[]string{"gen", "invoices", "--malformed", "2"}, "--malformed: want a fraction from 0 to 1, got 2"},
		{[]string{"gen", "invoices", "--duplicates", "-0.1"}, "--duplicates: want a fraction from 0 to 1, got -0.1"},
		{[]string{"gen", "invoices", "--oems", "hp,D ell"}, `--oems: "D ell" is not an OEM id`},
		{[]string{"gen", "invoices", "--oems", " , "}, `--oems: name at least one OEM id, e.g. hp,dell`},
	}
	for _, tt := range tests {
		out, err := runOffline(t, nil, tt.args...)
		if err == nil || exitCode(err) == 0 || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%q: error %v (exit %d), want one containing %s\n%.300s", tt.args, err, exitCodeOf(err), tt.wantErr, out)
		}
		if err != nil && strings.HasPrefix(err.Error(), "dealcredit ") {
			t.Errorf("%q: the error repeats the program's name: %v", tt.args, err)
		}
		if strings.Contains(out, "published ") || strings.Contains(out, "goroutine ") {
			t.Errorf("%q: output claims a publish or holds a stack trace:\n%.300s", tt.args, out)
		}
	}
}

func exitCodeOf(err error) int {
	if err == nil {
		return 0
	}
	return exitCode(err)
}

// TestReportPrintsEachErrorOnce: a failure whose message the command
// already printed (verify's FAIL lines) only sets the exit code. Before,
// `verify` ended with a stray "dealcredit: exit status 2".
func TestReportPrintsEachErrorOnce(t *testing.T) {
	for _, tt := range []struct {
		err      error
		wantCode int
		want     string
	}{
		{nil, 0, ""},
		{failure{2}, 2, ""},
		{errors.New("--oem: required"), 1, "dealcredit: --oem: required\n"},
	} {
		var buf bytes.Buffer
		if code := report(tt.err, &buf); code != tt.wantCode || buf.String() != tt.want {
			t.Errorf("report(%v) = %d, %q; want %d, %q", tt.err, code, buf.String(), tt.wantCode, tt.want)
		}
	}
}

// TestReplayAsOfTimesAndPositions: on a log with data, the same instant
// written in any offset (Z, +05:30, -08:00) replays the same events into
// the same bytes, an instant between two events takes the earlier one
// only, and a position beyond the log's head is refused, naming the head
// (before, it replayed the whole log: a number that does not reproduce once
// the log grows).
func TestReplayAsOfTimesAndPositions(t *testing.T) {
	d := daemontest.Start(t, nil)
	for range 2 { // two appends: two recording instants
		if out, err := cli(t, d, "gen", "log", "--events", "30"); err != nil {
			t.Fatalf("gen log: %v\n%s", err, out)
		}
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, d.Env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var pos, head int64
	var at time.Time
	// The last event of a recording instant with a later one after it.
	if err := conn.QueryRow(ctx, `SELECT max(position), recorded_at FROM events
		WHERE recorded_at < (SELECT max(recorded_at) FROM events) GROUP BY recorded_at ORDER BY recorded_at DESC LIMIT 1`).Scan(&pos, &at); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT max(position) FROM events`).Scan(&head); err != nil {
		t.Fatal(err)
	}
	replay := func(asOf string) (string, string) {
		t.Helper()
		dir := t.TempDir()
		out, err := cli(t, d, "replay", "--as-of", asOf, "--out", dir)
		if err != nil {
			t.Fatalf("replay --as-of %s: %v\n%s", asOf, err, out)
		}
		b, err := os.ReadFile(filepath.Join(dir, "attribution.csv"))
		if err != nil {
			t.Fatal(err)
		}
		return out, string(b)
	}
	_, byPosition := replay(strconv.FormatInt(pos, 10))
	for _, loc := range []*time.Location{time.UTC, time.FixedZone("IST", 5*3600+1800), time.FixedZone("PST", -8*3600)} {
		asOf := at.In(loc).Format(time.RFC3339Nano)
		out, csv := replay(asOf)
		if want := "up to position " + strconv.FormatInt(pos, 10) + " "; !strings.Contains(out, want) {
			t.Errorf("replay --as-of %s: %q, want %q", asOf, out, want)
		}
		if csv != byPosition {
			t.Errorf("replay --as-of %s differs from --as-of %d", asOf, pos)
		}
	}
	beyond := strconv.FormatInt(head+1000, 10)
	out, err := cli(t, d, "replay", "--as-of", beyond, "--out", t.TempDir())
	want := "--as-of: position " + beyond + " is beyond the log's head " + strconv.FormatInt(head, 10)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("replay --as-of %s = %v, want %q\n%s", beyond, err, want, out)
	}
}

// TestWrongDatabaseSaysSo: DATABASE_URL naming a database that does not
// exist, or one without dealcredit's tables, gets a sentence that says
// which and what to do, not only Postgres's "relation ... does not exist"
// or "database ... does not exist".
func TestWrongDatabaseSaysSo(t *testing.T) {
	empty := pgtest.NewDatabase(t)
	missing := pgtest.MissingDatabase(t)
	for _, tt := range []struct {
		dsn  string
		args []string
		want string
	}{
		{empty, []string{"export", "attribution", "--quarter", "current"}, "has no dealcredit tables"},
		{empty, []string{"verify", "--no-mirror"}, "has no dealcredit tables"},
		{empty, []string{"tail"}, "has no dealcredit tables"},
		{missing, []string{"verify", "--no-mirror"}, "does not exist: is DATABASE_URL the daemon's database?"},
	} {
		env := map[string]string{"DATABASE_URL": tt.dsn, "DATABASE_MIGRATION_URL": tt.dsn}
		var out bytes.Buffer
		err := run(context.Background(), tt.args, func(k string) string { return env[k] }, &out, &out)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "dealcredit migrate") {
			t.Errorf("%q on %s: %v, want an error containing %q and naming dealcredit migrate\n%s", tt.args, tt.dsn, err, tt.want, out.String())
		}
	}
}

// TestRefusedNATSCredentialsSaySo: a running daemon that refuses the
// credentials is not "is the daemon running?": the error names where the
// credentials came from (the data directory of another daemon, or
// NATS_URL's user).
func TestRefusedNATSCredentialsSaySo(t *testing.T) {
	d := daemontest.Start(t, nil)
	u, err := url.Parse(d.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	other := t.TempDir() // another daemon's data directory: other passwords
	creds := `{"service": {"user": "dealcredit", "password": "not-this-daemons-password-0123456789"}, "oems": {}}`
	if err := os.WriteFile(filepath.Join(other, "nats-credentials.json"), []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"DEALCREDIT_EMBEDDED_NATS_ADDR": u.Host, "DEALCREDIT_DATA_DIR": other},
			"refused the credentials in " + filepath.Join(other, "nats-credentials.json") + " (another daemon's data directory? DEALCREDIT_DATA_DIR must be this daemon's)"},
		{map[string]string{"NATS_URL": "nats://dealcredit:wrong@" + u.Host},
			"refused the credentials (NATS_URL's user:password, NATS_USER and NATS_PASSWORD, or NATS_CREDS)"},
	} {
		tt.env["DATABASE_URL"] = d.Env["DATABASE_URL"]
		var out bytes.Buffer
		err := run(context.Background(), []string{"verify"}, func(k string) string { return tt.env[k] }, &out, &out)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "is the daemon running") {
			t.Errorf("verify with %v: %v, want %q", tt.env, err, tt.want)
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

// TestDemoWithoutTheDaemonsHTTP: NATS answers but nothing listens at
// DEALCREDIT_HTTP_ADDR (a wrong address, or the daemon stopped): the demo's
// error says where it looked and which variable to set, like the finance
// commands (before: only Go's "dial tcp ...: connection refused").
func TestDemoWithoutTheDaemonsHTTP(t *testing.T) {
	srv := natstest.Start(t)
	tokens := filepath.Join(t.TempDir(), "tokens.json")
	if err := os.WriteFile(tokens, []byte(`[{"token":"admin-token-0123456789","role":"admin"},{"token":"cm-token-0123456789ab","role":"channel_manager"},{"token":"finance-token-0123456789","role":"finance"},{"token":"auditor-token-0123456789","role":"auditor"},{"token":"partner-token-0123456789","role":"partner","partner_id":"var-demo"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"NATS_URL": srv.URL(), "DEALCREDIT_TOKENS_FILE": tokens, "DEALCREDIT_HTTP_ADDR": "127.0.0.1:1",
		"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"}
	var out bytes.Buffer
	err := run(context.Background(), []string{"demo", "--run-id", "nohttp"}, func(k string) string { return env[k] }, &out, &out)
	want := "is the daemon running at http://127.0.0.1:1? set DEALCREDIT_HTTP_ADDR"
	if err == nil || exitCode(err) == 0 || !strings.Contains(err.Error(), want) {
		t.Errorf("demo without the daemon's HTTP: %v, want %q\n%s", err, want, out.String())
	}
}
