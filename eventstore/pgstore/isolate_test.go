package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"dealcredit/eventstore"
	"dealcredit/eventstore/pgstore"
)

// TestAppendEachIsolatesAnUnforeseenDatabaseError checks that a unit the
// database refuses for a reason validation did not foresee (here a business
// time beyond Postgres' range) fails alone: the other units of the same AppendEach
// call commit.
func TestAppendEachIsolatesAnUnforeseenDatabaseError(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t, mustPool(t, mustDatabase(t)), pgstore.Options{})
	unit := func(stream string, occurred time.Time) []eventstore.AppendRequest {
		return []eventstore.AppendRequest{{Stream: stream, Expected: eventstore.Any,
			Events: []eventstore.Event{{ID: uuid.New(), Type: "t", SchemaVersion: 1, Data: []byte(`{}`), OccurredAt: occurred}}}}
	}
	now := time.Now()
	// Postgres refuses timestamps after 294276 AD; validation does not check.
	res, err := s.AppendEach(ctx, [][]eventstore.AppendRequest{
		unit("good-1", now), unit("bad-1", time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)), unit("good-2", now)})
	if err != nil {
		t.Fatalf("AppendEach: %v", err)
	}
	if res[0].Err != nil || res[2].Err != nil {
		t.Fatalf("good units failed: %v, %v", res[0].Err, res[2].Err)
	}
	if res[1].Err == nil {
		t.Fatal("the unit with an invalid stream id must fail")
	}
	recs, err := s.ReadAll(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].StreamID != "good-1" || recs[1].StreamID != "good-2" {
		t.Fatalf("log holds %d records, want good-1 and good-2", len(recs))
	}
}
