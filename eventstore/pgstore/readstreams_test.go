package pgstore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"dealcredit/eventstore"
	"dealcredit/eventstore/pgstore"
)

// TestReadStreamsEqualsReadStream: ReadStreams gives every stream exactly
// what ReadStream gives it, across more streams than one query names, and
// leaves out streams with no events.
func TestReadStreamsEqualsReadStream(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := mustStore(t, mustPool(t, mustDatabase(t)), pgstore.Options{})

	var reqs []eventstore.AppendRequest
	var names []string
	for i := range 1500 {
		stream := fmt.Sprintf("s-%d", i)
		names = append(names, stream)
		var evs []eventstore.Event
		for n := range i%3 + 1 {
			evs = append(evs, numbered(n))
		}
		reqs = append(reqs, eventstore.AppendRequest{Stream: stream, Expected: eventstore.NoStream, Events: evs})
	}
	if _, err := s.AppendAtomic(ctx, reqs...); err != nil {
		t.Fatal(err)
	}
	// A later event on an early stream: versions stay in order within it.
	if _, err := s.Append(ctx, "s-0", eventstore.Exact(1), numbered(9)); err != nil {
		t.Fatal(err)
	}
	names = append(names, "empty-1", "empty-2")
	slices.Reverse(names)

	got, err := s.ReadStreams(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1500 {
		t.Fatalf("ReadStreams returned %d streams, want 1500 (the empty ones absent)", len(got))
	}
	for _, stream := range names {
		want, err := s.ReadStream(ctx, stream, 0)
		if err != nil {
			t.Fatal(err)
		}
		recs := got[stream]
		if len(recs) != len(want) {
			t.Fatalf("%s: ReadStreams has %d records, ReadStream %d", stream, len(recs), len(want))
		}
		for i := range want {
			if recs[i].Position != want[i].Position || recs[i].StreamVersion != want[i].StreamVersion || recs[i].ID != want[i].ID ||
				string(recs[i].Data) != string(want[i].Data) {
				t.Fatalf("%s record %d: ReadStreams %+v, ReadStream %+v", stream, i, recs[i], want[i])
			}
		}
	}
}
