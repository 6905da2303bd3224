package pgstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/eventstore"
	"dealcredit/eventstore/pgstore"
)

// TestFastPathAssumptions drives two stores on separate pools (as two
// processes) through every assumption of the writer's one-round-trip path
// being wrong: a head moved by the other process (also on an empty log), a
// stream created by the other process, a stored event id, a cached version
// that is an idempotent retry. Each outcome must equal the slow path's, and
// the log must stay gap-free with an intact chain. It runs once with the
// INSERT write and once with every batch written by COPY.
func TestFastPathAssumptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		copyMin int
	}{{"insert", 1 << 30}, {"copy", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fastPathAssumptions(t, tc.copyMin)
		})
	}
}

func fastPathAssumptions(t *testing.T, copyMin int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn := mustDatabase(t)
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
	stores := make([]*pgstore.Store, 2)
	for i := range stores {
		stores[i] = mustStore(t, mustPool(t, dsn), pgstore.Options{Registerer: regs[i]})
		pgstore.SetFastSkip(stores[i], 0)
		pgstore.SetCopyMin(stores[i], copyMin)
	}
	const a, b = 0, 1
	ev := map[string]eventstore.Event{}
	e := func(name string) eventstore.Event {
		if x, ok := ev[name]; ok {
			return x
		}
		ev[name] = event("fast.test", `{"name":"`+name+`"}`)
		return ev[name]
	}
	const (
		wantNew = iota
		wantAlready
		wantConflict
		wantIDConflict
	)
	steps := []struct {
		name     string
		store    int
		stream   string
		expected eventstore.Expected
		events   []string
		want     int
		version  int64 // last stream version (new, already) or actual (conflict)
	}{
		{"A conflicts on the empty log", a, "s0", eventstore.Exact(1), []string{"x0"}, wantConflict, 0},
		{"B appends first", b, "s0", eventstore.NoStream, []string{"e0"}, wantNew, 1},
		{"A's cached empty head is stale", a, "s0b", eventstore.NoStream, []string{"x1"}, wantNew, 1},
		{"A new stream", a, "s1", eventstore.NoStream, []string{"e1", "e2"}, wantNew, 2},
		{"A exact from cache", a, "s1", eventstore.Exact(2), []string{"e3"}, wantNew, 3},
		{"A retry decided from cache", a, "s1", eventstore.Exact(2), []string{"e3"}, wantAlready, 3},
		{"A retry with any", a, "s1", eventstore.Any, []string{"e1", "e2"}, wantAlready, 2},
		{"A new stream, fresh head", a, "s2", eventstore.NoStream, []string{"e4"}, wantNew, 1},
		{"A stored id on a new stream", a, "s3", eventstore.NoStream, []string{"e1"}, wantIDConflict, 0},
		{"A stored id with a new one", a, "s3", eventstore.NoStream, []string{"e9", "e4"}, wantIDConflict, 0},
		{"B appends to A's stream", b, "s1", eventstore.Any, []string{"e5"}, wantNew, 4},
		{"A's cached version is old", a, "s1", eventstore.Exact(3), []string{"e6"}, wantConflict, 4},
		{"A exact after refresh", a, "s1", eventstore.Exact(4), []string{"e6"}, wantNew, 5},
		{"B creates a stream", b, "s4", eventstore.NoStream, []string{"e7"}, wantNew, 1},
		{"A refreshes its head", a, "s5", eventstore.NoStream, []string{"e8"}, wantNew, 1},
		{"A NoStream on B's stream", a, "s4", eventstore.NoStream, []string{"e10"}, wantConflict, 1},
		{"A any on an unknown stream", a, "s6", eventstore.Any, []string{"e11"}, wantNew, 1},
		{"B retries A's event", b, "s6", eventstore.Any, []string{"e11"}, wantAlready, 1},
		{"B stream exists", b, "s2", eventstore.StreamExists, []string{"e12"}, wantNew, 2},
		{"B creates s7", b, "s7", eventstore.NoStream, []string{"e13"}, wantNew, 1},
		{"A refreshes its head again", a, "s8", eventstore.NoStream, []string{"e14"}, wantNew, 1},
		{"A any on B's stream", a, "s7", eventstore.Any, []string{"e15"}, wantNew, 2},
		{"B exact on A's stream", b, "s5", eventstore.Exact(1), []string{"e16"}, wantNew, 2},
		{"A retries B's event on a new stream", a, "s9", eventstore.Any, []string{"e16"}, wantIDConflict, 0},
	}
	for _, st := range steps {
		evs := make([]eventstore.Event, len(st.events))
		for i, n := range st.events {
			evs[i] = e(n)
		}
		res, err := stores[st.store].Append(ctx, st.stream, st.expected, evs...)
		var ce *eventstore.ConflictError
		var ie *eventstore.IDConflictError
		switch st.want {
		case wantNew, wantAlready:
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if res.AlreadyAppended != (st.want == wantAlready) {
				t.Fatalf("%s: AlreadyAppended = %v", st.name, res.AlreadyAppended)
			}
			last := res.Records[len(res.Records)-1]
			if last.StreamVersion != st.version || last.StreamID != st.stream || last.ID != evs[len(evs)-1].ID {
				t.Fatalf("%s: last record %s v%d id %s, want %s v%d", st.name, last.StreamID, last.StreamVersion, last.ID, st.stream, st.version)
			}
		case wantConflict:
			if !errors.As(err, &ce) || ce.Actual != st.version {
				t.Fatalf("%s: err = %v, want a conflict with actual version %d", st.name, err, st.version)
			}
		case wantIDConflict:
			if !errors.As(err, &ie) {
				t.Fatalf("%s: err = %v, want an id conflict", st.name, err)
			}
		}
	}

	recs, err := stores[a].ReadAll(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]int64{}
	ids := map[uuid.UUID]bool{}
	for i, r := range recs {
		if r.Position != int64(i+1) {
			t.Fatalf("record %d at position %d: gap", i, r.Position)
		}
		if r.StreamVersion != versions[r.StreamID]+1 {
			t.Fatalf("%s version %d after %d", r.StreamID, r.StreamVersion, versions[r.StreamID])
		}
		versions[r.StreamID] = r.StreamVersion
		if ids[r.ID] {
			t.Fatalf("event %s stored twice", r.ID)
		}
		ids[r.ID] = true
	}
	if len(recs) != 16 {
		t.Fatalf("log holds %d events, want 16", len(recs))
	}
	rep, err := stores[b].Verify(ctx, nil)
	if err != nil || rep.Head != int64(len(recs)) {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
	paths := fastPathCounts(t, regs[a])
	t.Logf("store A's append paths: %v", paths)
	if paths["hit"] < 3 || paths["miss"] < 4 {
		t.Fatalf("store A's append paths = %v: the fast path was not exercised", paths)
	}
}

// fastPathCounts reads dealcredit_eventstore_append_fast_path_total by outcome.
func fastPathCounts(tb testing.TB, reg *prometheus.Registry) map[string]float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "dealcredit_eventstore_append_fast_path_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}
