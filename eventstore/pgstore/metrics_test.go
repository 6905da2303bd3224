package pgstore_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"dealcredit/eventstore"
	"dealcredit/eventstore/pgstore"
)

// TestAppendMetrics checks the writer's metrics after appends made one at a
// time (each its own transaction): one observation of the transaction's time
// per transaction, the batch sizes, and the events appended by type.
func TestAppendMetrics(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	s := mustStore(t, mustPool(t, mustDatabase(t)), pgstore.Options{Registerer: reg})
	sizes := []int{1, 5, 2}
	for i, n := range sizes {
		evs := make([]eventstore.Event, n)
		for k := range evs {
			evs[k] = numbered(k)
		}
		if _, err := s.Append(ctx, "metrics-"+string(rune('a'+i)), eventstore.NoStream, evs...); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.Metric{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf.GetMetric()[0]
	}
	tx := got["dealcredit_eventstore_append_transaction_seconds"].GetHistogram()
	if tx.GetSampleCount() != uint64(len(sizes)) || tx.GetSampleSum() <= 0 {
		t.Errorf("transaction seconds: %d observations summing %g s, want %d with a positive sum", tx.GetSampleCount(), tx.GetSampleSum(), len(sizes))
	}
	batch := got["dealcredit_eventstore_append_batch_size"].GetHistogram()
	if batch.GetSampleCount() != uint64(len(sizes)) || batch.GetSampleSum() != 8 {
		t.Errorf("batch size: %d observations summing %g, want %d summing 8", batch.GetSampleCount(), batch.GetSampleSum(), len(sizes))
	}
	if n := got["dealcredit_eventstore_events_appended_total"].GetCounter().GetValue(); n != 8 {
		t.Errorf("events appended: %g, want 8", n)
	}
}
