package oemfeed_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/consumers/oemfeed"
	"dealcredit/internal/testkit/natstest"
)

// feedOf returns n valid hp invoices, one a line.
func feedOf(n int) string {
	one := strings.ReplaceAll(validBody, "\n", "")
	var b strings.Builder
	for i := range n {
		b.WriteString(strings.Replace(one, "HP-2026-000123", fmt.Sprintf("HP-2026-%06d", i), 1))
		b.WriteByte('\n')
	}
	return b.String()
}

// TestPublishFailsClearlyWithinTimeout: a full stream and a JetStream that
// does not answer (as with a full disk) both end Publish within its ack
// timeout, with an error that says how many messages were not
// acknowledged and why. Before, a silent JetStream made it wait for ever.
func TestPublishFailsClearlyWithinTimeout(t *testing.T) {
	srv := natstest.Start(t)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OEM_HP", Subjects: []string{"oem.hp.invoices"},
		MaxBytes: 8 << 10, Discard: jetstream.DiscardNew}); err != nil {
		t.Fatal(err)
	}
	// A subscriber that never answers stands for a JetStream that cannot
	// store and stays silent.
	sub, err := nc.Subscribe(oemfeed.Subject("acme"), func(*nats.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	tests := []struct {
		name    string
		oem     string
		timeout time.Duration
		acked   bool   // some lines acknowledged before the failures
		want    string // in the error
	}{
		{"stream full", "hp", 2 * time.Second, true, "(JetStream error 10077: the stream or the JetStream store is full)"},
		{"no answer", "acme", 300 * time.Millisecond, false, "did not acknowledge 200 of 200 messages within 300ms: nats: timeout waiting for ack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			rep, err := oemfeed.Publish(ctx, js, tt.oem, strings.NewReader(feedOf(200)), oemfeed.PublishOptions{AckTimeout: tt.timeout})
			elapsed := time.Since(start)
			var pe *oemfeed.PublishError
			if !errors.As(err, &pe) || !errors.Is(err, oemfeed.ErrNotAcknowledged) {
				t.Fatalf("error %v (%T), want a *PublishError wrapping ErrNotAcknowledged", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if elapsed > tt.timeout+2*time.Second {
				t.Errorf("took %s, want at most the ack timeout %s (and a little)", elapsed, tt.timeout)
			}
			if (rep.Acknowledged > 0) != tt.acked || rep.Acknowledged+len(rep.Failed) != 200 || pe.Failed != len(rep.Failed) {
				t.Errorf("report: %d acknowledged, %d failed of %d; error counts %d failed", rep.Acknowledged, len(rep.Failed), rep.Lines, pe.Failed)
			}
		})
	}
}
