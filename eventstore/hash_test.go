package eventstore_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"dealcredit/eventstore"
)

func sampleRecord() eventstore.Record {
	t := time.Date(2026, 2, 14, 10, 0, 0, 123456000, time.UTC)
	return eventstore.Record{
		Position: 1, StreamID: "deal-1", StreamVersion: 1, ID: uuid.MustParse("7f3c0000-0000-4000-8000-000000000001"),
		Type: "deal.registered", SchemaVersion: 1, Data: []byte(`{"a":1}`), Metadata: []byte(`{}`),
		OccurredAt: t, RecordedAt: t,
	}
}

func TestHashRecordCoversEveryField(t *testing.T) {
	base := sampleRecord()
	h0 := eventstore.HashRecord(eventstore.ZeroHash, base)
	if len(h0) != eventstore.HashSize || !bytes.Equal(h0, eventstore.HashRecord(eventstore.ZeroHash, base)) {
		t.Fatalf("HashRecord is not a deterministic sha-256: %x", h0)
	}
	tests := []struct {
		name   string
		change func(*eventstore.Record)
	}{
		{"position", func(r *eventstore.Record) { r.Position = 2 }},
		{"stream", func(r *eventstore.Record) { r.StreamID = "deal-2" }},
		{"version", func(r *eventstore.Record) { r.StreamVersion = 2 }},
		{"id", func(r *eventstore.Record) { r.ID = uuid.New() }},
		{"type", func(r *eventstore.Record) { r.Type = "deal.approved" }},
		{"schema", func(r *eventstore.Record) { r.SchemaVersion = 2 }},
		{"occurred", func(r *eventstore.Record) { r.OccurredAt = r.OccurredAt.Add(time.Microsecond) }},
		{"recorded", func(r *eventstore.Record) { r.RecordedAt = r.RecordedAt.Add(time.Microsecond) }},
		{"data", func(r *eventstore.Record) { r.Data = []byte(`{"a": 1}`) }},
		{"metadata", func(r *eventstore.Record) { r.Metadata = []byte(`{"actor":"x"}`) }},
		// Length prefixes keep field boundaries unambiguous.
		{"boundary", func(r *eventstore.Record) { r.StreamID = "deal-1d"; r.Type = "eal.registered" }},
	}
	for _, tc := range tests {
		r := base
		tc.change(&r)
		if bytes.Equal(eventstore.HashRecord(eventstore.ZeroHash, r), h0) {
			t.Errorf("changing %s does not change the hash", tc.name)
		}
	}
	if bytes.Equal(eventstore.HashRecord(bytes.Repeat([]byte{1}, 32), base), h0) {
		t.Error("the previous hash is not covered")
	}
}

func TestChainVerifier(t *testing.T) {
	chain := func(n int) []eventstore.Record {
		prev := eventstore.ZeroHash
		recs := make([]eventstore.Record, n)
		for i := range recs {
			r := sampleRecord()
			r.Position, r.ID, r.PrevHash = int64(i+1), uuid.New(), prev
			r.Hash = eventstore.HashRecord(prev, r)
			prev, recs[i] = r.Hash, r
		}
		return recs
	}
	tests := []struct {
		name    string
		tamper  func([]eventstore.Record) []eventstore.Record
		wantBad int64
	}{
		{"intact", func(r []eventstore.Record) []eventstore.Record { return r }, 0},
		{"data changed", func(r []eventstore.Record) []eventstore.Record { r[2].Data = []byte(`{"a":2}`); return r }, 3},
		{"gap", func(r []eventstore.Record) []eventstore.Record { return append(r[:1], r[2:]...) }, 2},
		{"prev hash", func(r []eventstore.Record) []eventstore.Record { r[3].PrevHash = eventstore.ZeroHash; return r }, 4},
		{"starts at 2", func(r []eventstore.Record) []eventstore.Record { return r[1:] }, 1},
	}
	for _, tc := range tests {
		v := eventstore.NewChainVerifier()
		var err error
		for _, r := range tc.tamper(chain(5)) {
			if err = v.Add(r); err != nil {
				break
			}
		}
		var ce *eventstore.ChainError
		switch {
		case tc.wantBad == 0 && (err != nil || !v.Report().OK() || v.Report().Head != 5):
			t.Errorf("%s: err %v report %+v, want OK at 5", tc.name, err, v.Report())
		case tc.wantBad != 0 && (!errors.As(err, &ce) || ce.Position != tc.wantBad || v.Report().BadPosition != tc.wantBad):
			t.Errorf("%s: err %v, want a break at %d", tc.name, err, tc.wantBad)
		}
	}
}
