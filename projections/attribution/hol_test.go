package attribution_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"dealcredit/internal/genlog"
	"dealcredit/projections/attribution"
	"dealcredit/projections/runner"
)

// A read that may be large (here: deals lists without a limit, held up by
// a lock the test keeps on the registrations table) never holds up the
// small reads of other callers: a partner's statements all complete while
// as many deals lists as there are pipelines are blocked, and the lists
// complete once the lock is released.
func TestLargeReadsDoNotHoldUpSmallOnes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := genlog.Append(ctx, e.store, 300, 200, nil); err != nil {
		t.Fatal(err)
	}
	if err := runner.Rebuild(ctx, e.pool, e.store, attribution.New(), 0, nil); err != nil {
		t.Fatal(err)
	}
	r := attribution.NewReader(e.pool)
	want, _, err := r.Registrations(ctx, attribution.RegistrationFilter{})
	if err != nil || len(want) == 0 {
		t.Fatalf("%d registrations (%v)", len(want), err)
	}

	lock, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(ctx) //nolint:errcheck // released below unless the test failed first
	if _, err := lock.Exec(ctx, `LOCK TABLE proj_attribution.registrations IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	// As many large reads as a Pipe runs pipelines (GOMAXPROCS, two at least).
	slow := max(2, runtime.GOMAXPROCS(0))
	lists := make(chan error, slow)
	for range slow {
		go func() {
			got, _, err := r.Registrations(ctx, attribution.RegistrationFilter{})
			if err == nil && len(got) != len(want) {
				t.Errorf("a deals list read %d deals, want %d", len(got), len(want))
			}
			lists <- err
		}()
	}
	waitForLockWaiters(t, e, slow)

	const small = 16
	statements := make(chan error, small)
	for i := range small {
		go func() {
			ss, _, err := r.Statements(ctx, "var-"+string(rune('0'+i%8)), "")
			if err == nil && len(ss) == 0 {
				t.Errorf("statements of var-%d: none", i%8)
			}
			statements <- err
		}()
	}
	// A hang guard, not a speed target: the statements need nothing the
	// lock holds, so only head-of-line blocking can keep them waiting.
	guard := time.After(time.Minute)
	for i := range small {
		select {
		case err := <-statements:
			if err != nil {
				t.Fatal(err)
			}
		case <-guard:
			_ = lock.Rollback(ctx)
			t.Fatalf("%d of %d statement reads were still waiting behind the blocked deals lists", small-i, small)
		}
	}
	if got := len(lists); got != 0 {
		t.Fatalf("%d deals lists completed while their table was locked", got)
	}
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for range slow {
		if err := <-lists; err != nil {
			t.Fatal(err)
		}
	}
}

// waitForLockWaiters waits until n backends wait for a lock on a relation
// (polling pg_locks, with a deadline).
func waitForLockWaiters(t *testing.T, e env, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting int
		if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks WHERE locktype = 'relation' AND NOT granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d reads wait for the lock, want %d", waiting, n)
		}
		time.Sleep(time.Millisecond) // polling pg_locks, with a deadline
	}
}
