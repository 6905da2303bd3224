package runner_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"dealcredit/internal/testkit/logbuf"
	"dealcredit/projections/runner"
)

// states returns the state of every "projection state" line logged so far.
func states(logs *logbuf.Buffer) []string {
	var out []string
	for _, rec := range logs.Records("projection state") {
		s, _ := rec["state"].(string)
		out = append(out, s)
	}
	return out
}

// TestStateLoggedOnlyWhenItChanges: a runner that follows the log moves
// between live and catching_up with every burst of events; the log says
// once that it caught up and is live, not once per burst (a daemon's log
// was 153 of 256 lines of such flips).
func TestStateLoggedOnlyWhenItChanges(t *testing.T) {
	e := newEnv(t)
	e.appendN(t, 20)
	var logs logbuf.Buffer
	r, err := runner.New(e.pool, e.store, &counter{}, runner.Options{BatchSize: 5, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	waitFor(t, "live at 20", func() bool { s := r.Status(); return s.State == runner.StateLive && s.Position == 20 })
	for i := 1; i <= 3; i++ {
		e.appendN(t, 20) // one commit of 20: the runner is behind for 4 batches of 5
		want := int64(20 + 20*i)
		waitFor(t, "live again", func() bool { s := r.Status(); return s.State == runner.StateLive && s.Position == want })
	}
	got := states(&logs)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := []string{runner.StateCatchingUp, runner.StateLive}; !slices.Equal(got, want) {
		t.Fatalf("logged states %v, want %v", got, want)
	}
	if got := states(&logs); got[len(got)-1] != runner.StateStopped {
		t.Fatalf("logged states after stop %v, want stopped last", got)
	}
}

// TestVerifyProgressHasATotal: verify's scratch rebuild reports its
// progress against the live checkpoint from the first call on, so a bar can
// show a total and move.
func TestVerifyProgressHasATotal(t *testing.T) {
	e := newEnv(t)
	e.appendN(t, 100)
	ctx := context.Background()
	if err := runner.Rebuild(ctx, e.pool, e.store, &counter{}, 30, nil); err != nil {
		t.Fatal(err)
	}
	type call struct {
		name       string
		pos, total int64
	}
	var calls []call
	rep, err := runner.VerifyProgress(ctx, e.pool, e.store, 30, func(name string, pos, total int64) {
		calls = append(calls, call{name, pos, total})
	}, &counter{})
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v\n%s", err, rep)
	}
	want := []call{{"counter", 0, 100}, {"counter", 30, 100}, {"counter", 60, 100}, {"counter", 90, 100}, {"counter", 100, 100}}
	if !slices.Equal(calls, want) {
		t.Fatalf("progress calls %v, want %v", calls, want)
	}
}
