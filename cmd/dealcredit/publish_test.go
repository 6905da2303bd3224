package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"dealcredit/consumers/oemfeed"
	"dealcredit/internal/testkit/natstest"
)

// TestPublishTimesOutWithAClearError: against a JetStream that never
// acknowledges, `publish --timeout 300ms` ends within about that, non-zero,
// saying how many messages were not acknowledged. Before, it hung.
func TestPublishTimesOutWithAClearError(t *testing.T) {
	srv := natstest.Start(t)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// Something that takes the messages and never answers, as a JetStream
	// whose store cannot write.
	sub, err := nc.Subscribe("oem.acme.invoices", func(*nats.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	feed := filepath.Join(t.TempDir(), "feed.jsonl")
	if err := os.WriteFile(feed, []byte(strings.Repeat(`{"schema":"dealcredit.oem_invoice.v1","oem_id":"acme"}`+"\n", 20)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"NATS_URL": srv.URL()}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	err = run(ctx, []string{"publish", "--oem", "acme", "--timeout", "300ms", feed}, func(k string) string { return env[k] }, &out, &out)
	took := time.Since(start)
	if err == nil || exitCode(err) == 0 {
		t.Fatalf("publish to a silent JetStream succeeded:\n%s", out.String())
	}
	if took > 3*time.Second {
		t.Errorf("publish took %s with --timeout 300ms", took)
	}
	for _, want := range []string{"JetStream did not acknowledge 20 of 20 messages within 300ms", "... and 10 more lines not acknowledged", "not acknowledged: lines 1-20 ("} {
		if !strings.Contains(out.String()+err.Error(), want) {
			t.Errorf("output lacks %q:\n%s\nerror: %v", want, out.String(), err)
		}
	}
}

// TestLineRanges: the lines JetStream did not acknowledge are named
// exactly, in order, however they were collected.
func TestLineRanges(t *testing.T) {
	var errs []oemfeed.LineError
	for _, n := range []int{9, 1, 2, 3, 7, 10, 11, 12, 5} {
		errs = append(errs, oemfeed.LineError{Line: n})
	}
	if got, want := lineRanges(errs), "1-3, 5, 7, 9-12"; got != want {
		t.Errorf("lineRanges = %q, want %q", got, want)
	}
}
