package ingest_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/consumers/ingest"
	"dealcredit/eventstore/mirror"
)

// TestAckWaitsForMirror: with Options.Mirrored set, a committed batch is not
// acknowledged while no relay copies it into DEALCREDIT_EVENTS (its
// messages come back after MirrorTimeout, stored once), and is acknowledged
// once a relay (here a separate one, as another daemon's would be) has
// mirrored its events.
func TestAckWaitsForMirror(t *testing.T) {
	e := mustEnv(t)
	_, js := e.connect(t)
	const n = 20
	reg := prometheus.NewRegistry()
	c, _ := e.consumer(t, reg, ingest.Options{Mirrored: mirror.NewWatermark(js), MirrorTimeout: 300 * time.Millisecond,
		RetryMin: 50 * time.Millisecond}, "hp")
	run(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range n {
		if _, err := js.Publish(ctx, "oem.hp.invoices", body("hp", "HP-"+strconv.Itoa(i), 1, int64(i+1))); err != nil {
			t.Fatal(err)
		}
	}

	// Committed, waited for the mirror in vain, handed back and redelivered:
	// still awaiting acknowledgement and stored exactly once.
	eventually(t, 30*time.Second, "the batch committed, its messages redelivered and unacknowledged", func() bool {
		cons, err := js.Consumer(ctx, ingest.StreamName("hp"), "dealcredit-ingest")
		if err != nil {
			return false
		}
		info, err := cons.Info(ctx)
		return err == nil && len(invoices(t, e.pool)) == n && info.NumAckPending > 0 && info.NumRedelivered > 0
	})
	if got := counter(reg, "hp", ingest.OutcomeAccepted) + counter(reg, "hp", ingest.OutcomeDuplicate); got != 0 {
		t.Fatalf("%d messages acknowledged without a relay, want 0", got)
	}

	relay, err := mirror.NewRelay(e.store, e.pool, js, mirror.RelayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stopRelay := context.WithCancel(context.Background())
	relayDone := make(chan error, 1)
	go func() { relayDone <- relay.Run(rctx) }()
	defer func() { stopRelay(); <-relayDone }()

	eventually(t, 30*time.Second, "every message acknowledged once mirrored", func() bool { return drained(t, js, "hp") })
	if got := len(invoices(t, e.pool)); got != n {
		t.Fatalf("%d invoices stored, want %d exactly once", got, n)
	}
	if got := counter(reg, "hp", ingest.OutcomeAccepted) + counter(reg, "hp", ingest.OutcomeDuplicate); got != n {
		t.Fatalf("%d messages acknowledged, want %d", got, n)
	}
}
