package oemwatch_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"dealcredit/consumers/oemwatch"
	"dealcredit/domain"
	"dealcredit/eventstore"
	"dealcredit/internal/testkit/logtest"
)

func enrol(t *testing.T, s eventstore.Appender, id string, kind domain.PartnerKind) {
	t.Helper()
	d, _ := domain.ParseDate("2026-01-05")
	ev := domain.PartnerEnrolled{PartnerID: id, Name: id, Kind: kind, Geography: "us-west", Tier: "registered", EnrolledOn: d}
	typ, ver, data, err := domain.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), domain.PartnerStream(id), eventstore.NoStream,
		eventstore.Event{ID: uuid.New(), Type: typ, SchemaVersion: ver, Data: data}); err != nil {
		t.Fatal(err)
	}
}

func TestWatchProvisionsEveryOEMOnce(t *testing.T) {
	log := logtest.New(t)
	enrol(t, log.Store, "hp", domain.KindOEM)
	enrol(t, log.Store, "var-1", domain.KindVAR)

	var mu sync.Mutex
	calls := map[string]int{}
	failedOnce := false
	provision := func(_ context.Context, oem string) error {
		mu.Lock()
		defer mu.Unlock()
		if oem == "dell" && !failedOnce {
			failedOnce = true
			return context.DeadlineExceeded // a transient failure: must be retried
		}
		calls[oem]++
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- oemwatch.Watch(ctx, log.Store, provision, nil) }()

	// Once hp (from the initial read) is provisioned, the watcher is
	// following the log: an OEM enrolled now is provisioned too.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not provisioned in time: %v", what, calls)
			}
			time.Sleep(10 * time.Millisecond) // polling with a deadline, not synchronisation by sleep
		}
	}
	waitFor("hp", func() bool { return calls["hp"] == 1 })
	enrol(t, log.Store, "dell", domain.KindOEM)
	enrol(t, log.Store, "si-1", domain.KindSI)

	waitFor("dell", func() bool { return calls["dell"] == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Watch returned %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 || calls["var-1"] != 0 || calls["si-1"] != 0 {
		t.Fatalf("provisioned %v, want exactly hp and dell once each", calls)
	}
}
