package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"dealcredit/cmd/dealcreditd/daemon"
	"dealcredit/internal/testkit/daemontest"
	"dealcredit/internal/testkit/logbuf"
)

// TestHelpExitsZeroWithDoubleDashFlags: --help (and -h) is an answer, not
// an error (it was `flag: help requested`, exit 1), and the flags read like
// the CLI's, each naming its environment variable.
func TestHelpExitsZeroWithDoubleDashFlags(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		var out bytes.Buffer
		if err := daemon.Run(context.Background(), []string{arg}, func(string) string { return "" }, &out, io.Discard); err != nil {
			t.Fatalf("Run(%s) = %v, want nil", arg, err)
		}
		for _, want := range []string{"--database-url string", "(DATABASE_URL)", "--http-addr string", "(DEALCREDIT_HTTP_ADDR)", "--no-ingest"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s output lacks %q:\n%s", arg, want, out.String())
			}
		}
	}
	err := daemon.Run(context.Background(), []string{"--bogus"}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--bogus") || !strings.Contains(err.Error(), "--help") {
		t.Fatalf("Run(--bogus) = %v, want an error naming the flag and --help", err)
	}
}

// TestScheduleIntervalValidated: a scheduler tick of zero, a negative one or
// one over an hour is refused at start, naming the flag.
func TestScheduleIntervalValidated(t *testing.T) {
	for _, v := range []string{"0s", "-5s", "10ms", "2h"} {
		err := daemon.Run(context.Background(), []string{"--schedule-interval", v}, func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--schedule-interval") {
			t.Errorf("Run(--schedule-interval %s) = %v, want an error naming the flag", v, err)
		}
	}
}

// TestStartLogIsReadable: every start step has a line, every line is JSON,
// nothing expected is logged at ERROR, and no key is repeated in a line
// (the relay's "component" was).
func TestStartLogIsReadable(t *testing.T) {
	var logs logbuf.Buffer
	d := daemontest.StartLogged(t, nil, &logs)
	if strings.ContainsAny(d.URL, " (") {
		t.Fatalf("daemontest read the URL %q from the ready line", d.URL)
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	msgs := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("not a JSON line: %q", line)
			continue
		}
		msg, _ := rec["msg"].(string)
		msgs[msg] = true
		if rec["level"] == "ERROR" {
			t.Errorf("logged at ERROR while starting and stopping cleanly: %s", line)
		}
		if rec["component"] == "nats-server" && rec["level"] == "INFO" {
			t.Errorf("the embedded NATS server's notices are in the daemon's log: %s", line)
		}
		if strings.Count(line, `"component":`) > 1 {
			t.Errorf("component key repeated: %s", line)
		}
	}
	for _, want := range []string{"database: creating it if missing and migrating", "database: migrated",
		"embedded JetStream: starting", "embedded JetStream: started", "generated API tokens", "dealcreditd ready", "stopped"} {
		if !msgs[want] {
			t.Errorf("no %q line in the start log:\n%s", want, logs.String())
		}
	}
}
