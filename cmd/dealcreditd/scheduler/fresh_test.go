package scheduler_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"dealcredit/app"
	"dealcredit/cmd/dealcreditd/scheduler"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/testkit/logtest"
)

// firstRecord is a slog handler that hands over the first record it gets.
type firstRecord chan slog.Record

func (firstRecord) Enabled(context.Context, slog.Level) bool { return true }
func (f firstRecord) Handle(_ context.Context, r slog.Record) error {
	select {
	case f <- r:
	default:
	}
	return nil
}
func (f firstRecord) WithAttrs([]slog.Attr) slog.Handler { return f }
func (f firstRecord) WithGroup(string) slog.Handler      { return f }

// TestFirstTickBeforeTheReadModelsIsNotAWarning: on a fresh database the
// scheduler's first tick comes before the projection runners create their
// tables. That is the expected start, not a fault: before, every first
// `make run` logged WARN "relation proj_attribution.registrations does not
// exist".
func TestFirstTickBeforeTheReadModelsIsNotAWarning(t *testing.T) {
	dsn := logtest.MigratedDatabase(t)
	pool := logtest.OpenPool(t, dsn)
	store := logtest.OpenStore(t, pool, pgstore.Options{})
	got := make(firstRecord, 1)
	s, err := scheduler.New(pool, app.New(store), scheduler.Options{Interval: time.Hour, Logger: slog.New(got)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var r slog.Record
	select {
	case r = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("the first tick logged nothing")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r.Level >= slog.LevelWarn {
		t.Errorf("first tick on a fresh database logged %s %q", r.Level, r.Message)
	}
}
