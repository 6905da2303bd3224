package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runOffline runs the CLI with no daemon and no database behind it: the
// commands below must fail (or answer) before they connect.
func runOffline(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	env["DATABASE_URL"] = "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"
	var out bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &out, &out)
	return out.String(), err
}

// TestHelpAndMissingFlags: help lists the valid values, and a missing or
// bad flag is named with what it takes (a new user saw
// `domain: quarter "" is not YYYYQn` and a projection list printed twice).
func TestHelpAndMissingFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string // "" = success
		want    string // in the output or the error
	}{
		{[]string{"export", "attribution"}, `--quarter is required (YYYYQn, "current" or "previous")`, ""},
		{[]string{"export", "attribution", "--quarter", "last"}, `--quarter: "last" is not YYYYQn, "current" or "previous"`, ""},
		{[]string{"export", "attribution", "--help"}, "", `YYYYQn, "current" or "previous"`},
		{[]string{"replay", "--out", t.TempDir()}, `--as-of is required: "now", a duration back from now (-1h, -30m)`, ""},
		{[]string{"replay", "--as-of", "1h", "--out", t.TempDir()}, "--as-of: 1h is in the future; a duration goes back from now, e.g. -1h", ""},
		{[]string{"replay", "--as-of", "yesterday", "--out", t.TempDir()}, `--as-of: "yesterday" is not "now", a duration`, ""},
		{[]string{"replay", "--help"}, "", "RECORDED"},
		{[]string{"rebuild", "--help"}, "", "PROJECTION is one of: attribution, leads."},
		{[]string{"rebuild", "nope"}, "rebuild: name one projection: attribution, leads", ""},
		{[]string{"rebuild"}, "rebuild: name one projection: attribution, leads", ""},
		{[]string{"explain"}, "--oem is required (the OEM's partner id, e.g. hp)", ""},
		{[]string{"explain", "--oem", "hp", "--invoice", "HP-1"}, "--line is required (the invoice line number, 1 or more)", ""},
		{[]string{"token"}, "token: name one role: admin, channel_manager, finance, auditor, partner", ""},
		{[]string{"import"}, "accepts 1 arg(s), received 0", ""},
		{[]string{"import", t.TempDir()}, "holds none of the import files (partners.csv, tier_history.csv", ""},
		{[]string{"import", "--help"}, "", "nothing is appended"},
		{[]string{"exceptions", "assign", "x1", "--reason", "r"}, "--deal is required (the id of an approved deal covering the line's segment)", ""},
		{[]string{"exceptions", "dismiss", "x1"}, "--reason is required (why, recorded on the event)", ""},
		{[]string{"payouts", "record", "var-1", "2026Q1", "--amount-minor", "1"}, "--currency is required (the ISO 4217 currency", ""},
		{[]string{"fx-rates", "set", "--from", "EUR", "--to", "USD", "--rate", "1.1", "--on", "2026-03-31"}, `--source is required (where the rate comes from`, ""},
		{[]string{"statements", "approve", "var-1"}, "statements approve: name PARTNER and QUARTER", ""},
		{[]string{"exceptions", "list"}, "(or pass --token)", ""},
	}
	for _, tt := range tests {
		out, err := runOffline(t, nil, tt.args...)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%v: %v\n%s", tt.args, err, out)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%v: error %v, want one containing %s", tt.args, err, tt.wantErr)
		case !strings.Contains(out, tt.want):
			t.Errorf("%v: output lacks %q:\n%s", tt.args, tt.want, out)
		}
		if err != nil && strings.Count(err.Error(), "attribution") > 1 {
			t.Errorf("%v: error lists the projections more than once: %v", tt.args, err)
		}
	}
}

func TestTokenPrintsTheRolesToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	body := `[{"token":"admin-token-0123456789","role":"admin"},{"token":"finance-token-0123456789","role":"finance"}]`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DEALCREDIT_TOKENS_FILE": path}
	out, err := runOffline(t, env, "token", "finance")
	if err != nil || out != "finance-token-0123456789\n" {
		t.Fatalf("token finance = %q, %v", out, err)
	}
	if _, err := runOffline(t, env, "token", "auditor"); err == nil || !strings.Contains(err.Error(), `no "auditor" token in `+path) {
		t.Fatalf("token auditor: %v", err)
	}
}

func TestParseRelativeForms(t *testing.T) {
	now := time.Date(2027, 1, 15, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{"current": "2027Q1", "previous": "2026Q4", "2026Q2": "2026Q2"} {
		q, err := parseQuarter(in, now)
		if err != nil || q.String() != want {
			t.Errorf("parseQuarter(%q) = %v, %v; want %s", in, q, err, want)
		}
	}
	for in, want := range map[string]time.Time{
		"now":                  now,
		"-90m":                 now.Add(-90 * time.Minute),
		"2026-03-31T23:59:59Z": time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC),
	} {
		at, err := parseAsOf(in, now)
		if err != nil || !at.Time.Equal(want) || at.Position != 0 {
			t.Errorf("parseAsOf(%q) = %+v, %v; want time %s", in, at, err, want)
		}
	}
	if at, err := parseAsOf("42", now); err != nil || at.Position != 42 {
		t.Errorf("parseAsOf(42) = %+v, %v", at, err)
	}
}

func TestInvokedAs(t *testing.T) {
	for arg0, want := range map[string]string{
		"bin/dealcredit":                        "bin/dealcredit",
		"dealcredit":                            "dealcredit",
		"/tmp/go-build1234/b001/exe/dealcredit": "go run ./cmd/dealcredit",
	} {
		if got := invokedAs(arg0); got != want {
			t.Errorf("invokedAs(%q) = %q, want %q", arg0, got, want)
		}
	}
}
