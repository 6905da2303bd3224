package dealcredit_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dealcredit/internal/testkit/daemontest"
)

// TestReadmeTryIt runs the README's "Try it" block as written (the shell
// lines between the try-it markers, with the daemon's address in place of
// localhost:8080) against a daemon the test starts, from a directory whose
// bin/dealcredit is the CLI built from this tree; then the next commands
// the demo printed. The README's examples once worked in one month of one
// year only; this keeps them working on any day.
func TestReadmeTryIt(t *testing.T) {
	block := tryItBlock(t)
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "bin", "dealcredit"), "./cmd/dealcredit")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/dealcredit: %v\n%s", err, out)
	}
	d := daemontest.Start(t, nil)
	addr := strings.TrimPrefix(d.URL, "http://")
	env := append(os.Environ(),
		"DATABASE_URL="+d.Env["DATABASE_URL"],
		"NATS_URL="+d.NATSURL,
		"DEALCREDIT_HTTP_ADDR="+addr,
		"DEALCREDIT_DATA_DIR="+d.Env["DEALCREDIT_DATA_DIR"],
		"DEALCREDIT_TOKENS_FILE="+filepath.Join(d.Env["DEALCREDIT_DATA_DIR"], "tokens.json"),
	)
	sh := func(script string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v running:\n%s\noutput:\n%s", err, script, out)
		}
		return string(out)
	}

	out := sh(strings.ReplaceAll(block, "localhost:8080", addr))
	for _, want := range []string{
		"Next, with this run's values",     // the demo ran to its end
		"dealcredit_ingest_messages_total", // the feed was counted
		`"indirect_share_bps"`,             // the revenue mix of the current quarter
		"ok   log:",                        // verify
		"ok   projection attribution",      // verify --projections
		"projection attribution rebuilt and swapped in",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the README's block printed no %q:\n%s", want, out)
		}
	}
	if b, err := os.ReadFile("/tmp/ledger.csv"); err != nil || strings.Count(string(b), "\n") < 2 {
		t.Errorf("export of the current quarter wrote no ledger lines: %v\n%s", err, b)
	}

	// The demo's next commands, as printed: explain names a booked credit
	// in major units.
	next := nextCommands(out)
	if len(next) == 0 {
		t.Fatalf("the demo printed no next commands:\n%s", out)
	}
	out = sh(strings.Join(next, "\n"))
	if !strings.Contains(out, "revenue ") || !strings.Contains(out, ".00 USD to ") {
		t.Errorf("the demo's next commands did not explain a credit in major units:\n%s", out)
	}
}

// tryItBlock returns the shell lines of README.md between the try-it markers.
func tryItBlock(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- try-it:begin")
	if !ok {
		t.Fatal("README.md has no <!-- try-it:begin marker")
	}
	block, _, ok := strings.Cut(rest, "<!-- try-it:end -->")
	if !ok {
		t.Fatal("README.md has no <!-- try-it:end --> marker")
	}
	_, code, ok := strings.Cut(block, "```sh\n")
	if !ok {
		t.Fatal("the try-it block has no ```sh fence")
	}
	code, _, ok = strings.Cut(code, "```")
	if !ok || strings.TrimSpace(code) == "" {
		t.Fatal("the try-it block's fence is empty or not closed")
	}
	return code
}

// nextCommands returns the commands the demo printed after "Next, ...":
// the indented lines that follow it, without the comments.
func nextCommands(out string) []string {
	_, rest, ok := strings.Cut(out, "Next, with this run's values")
	if !ok {
		return nil
	}
	var cmds []string
	sc := bufio.NewScanner(strings.NewReader(rest))
	sc.Scan() // the rest of the heading line
	for sc.Scan() && strings.HasPrefix(sc.Text(), "   ") {
		if line := strings.TrimSpace(sc.Text()); !strings.HasPrefix(line, "#") {
			cmds = append(cmds, line)
		}
	}
	return cmds
}
