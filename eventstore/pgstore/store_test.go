package pgstore_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/eventstore"
	"dealcredit/eventstore/pgstore"
)

func TestAppendReadFollow(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg := prometheus.NewRegistry()
	clock := time.Date(2026, 2, 14, 10, 0, 0, 123456789, time.UTC)
	s := mustStore(t, mustPool(t, mustDatabase(t)), pgstore.Options{Registerer: reg, Now: func() time.Time { return clock }})

	if h, err := s.Head(ctx); err != nil || h != 0 {
		t.Fatalf("Head of empty log = %d, %v; want 0, nil", h, err)
	}
	// A follower waiting before anything is appended wakes on the commit.
	woke := make(chan int64, 1)
	go func() {
		h, err := s.WaitFor(ctx, 0)
		if err != nil {
			t.Errorf("WaitFor: %v", err)
		}
		woke <- h
	}()

	data := []byte(`{"b": 1,  "a": [2, 1]}`) // jsonb would reorder and respace this
	e1 := event("deal.registered", string(data))
	e1.Metadata = eventstore.Metadata{Actor: "tester", CorrelationID: "c-1"}
	res, err := s.Append(ctx, "deal-1", eventstore.NoStream, e1, numbered(2))
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if res.AlreadyAppended || len(res.Records) != 2 || res.LastPosition() != 2 {
		t.Fatalf("Append result = %+v; want 2 new records ending at 2", res)
	}
	if h := <-woke; h < 2 {
		t.Fatalf("WaitFor woke with head %d, want >= 2", h)
	}
	recs, err := s.ReadAll(ctx, 0, 10)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if len(recs) != 2 {
		t.Fatalf("ReadAll returned %d records, want 2", len(recs))
	}
	r := recs[0]
	if !bytes.Equal(r.Data, data) {
		t.Errorf("stored data %q, want the exact bytes %q", r.Data, data)
	}
	if r.ID != e1.ID || r.Type != "deal.registered" || r.StreamID != "deal-1" || r.StreamVersion != 1 || r.Position != 1 {
		t.Errorf("record = %+v", r)
	}
	if want := clock.Truncate(time.Microsecond); !r.RecordedAt.Equal(want) || !r.OccurredAt.Equal(want) {
		t.Errorf("recorded_at %v occurred_at %v, want %v", r.RecordedAt, r.OccurredAt, want)
	}
	if !bytes.Equal(r.PrevHash, eventstore.ZeroHash) || !bytes.Equal(recs[1].PrevHash, r.Hash) {
		t.Errorf("hash chain not linked: %x -> %x", r.Hash, recs[1].PrevHash)
	}
	if !bytes.Equal(r.Hash, res.Records[0].Hash) {
		t.Errorf("returned hash %x differs from stored %x", res.Records[0].Hash, r.Hash)
	}
	rep, err := s.Verify(ctx, nil)
	if err != nil || !rep.OK() || rep.Head != 2 || rep.Records != 2 {
		t.Fatalf("Verify = %+v, %v; want OK head 2", rep, err)
	}
	stream, err := s.ReadStream(ctx, "deal-1", 1)
	if err != nil || len(stream) != 1 || stream[0].StreamVersion != 2 {
		t.Fatalf("ReadStream after 1 = %+v, %v", stream, err)
	}
	if got := counterValue(t, reg, "deal.registered"); got != 1 {
		t.Errorf("events_appended_total{type=deal.registered} = %v, want 1", got)
	}
	if h, err := s.WaitFor(ctx, 1); err != nil || h != 2 {
		t.Errorf("WaitFor(1) = %d, %v; want 2", h, err)
	}
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if _, err := s.WaitFor(short, 2); err == nil {
		t.Errorf("WaitFor(head) returned without a new commit")
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, typ string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "dealcredit_eventstore_events_appended_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "type" && l.GetValue() == typ {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
