package runner_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"dealcredit/domain"
	"dealcredit/eventstore"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/pgdb"
	"dealcredit/internal/testkit/logtest"
	"dealcredit/projections/runner"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// counter is a small real projection with in-memory state: each row stores
// the running count of its event type, so a wrongly loaded state after a restart
// shows in the rows.
type counter struct {
	// onApply, when set, is called before each write batch.
	onApply func(batch []eventstore.Record)
	// failApply, when set, fails a batch with the error it returns.
	failApply func(batch []eventstore.Record) error
	// version 2 adds a column "parity" to seen.
	version int
}

func (c *counter) Name() string { return "counter" }
func (c *counter) Version() int {
	return max(c.version, 1)
}
func (c *counter) Tables() []string { return []string{"seen", "totals"} }
func (c *counter) Setup(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `
		CREATE TABLE seen (position bigint PRIMARY KEY, type text NOT NULL, running bigint NOT NULL);
		CREATE TABLE totals (type text PRIMARY KEY, n bigint NOT NULL)`)
	if err == nil && c.Version() >= 2 {
		_, err = tx.Exec(ctx, "ALTER TABLE seen ADD COLUMN parity bigint NOT NULL DEFAULT 0")
	}
	return err
}
func (c *counter) LoadState(ctx context.Context, tx pgx.Tx) (runner.State, error) {
	rows, err := tx.Query(ctx, "SELECT type, n FROM totals")
	if err != nil {
		return nil, err
	}
	n := map[string]int64{}
	var typ string
	var v int64
	_, err = pgx.ForEachRow(rows, []any{&typ, &v}, func() error {
		n[typ] = v
		return nil
	})
	return &counterState{c: c, n: n}, err
}

type counterState struct {
	c *counter
	n map[string]int64
}

func (s *counterState) Apply(ctx context.Context, tx pgx.Tx, batch []eventstore.Record) error {
	if s.c.onApply != nil {
		s.c.onApply(batch)
	}
	if s.c.failApply != nil {
		if err := s.c.failApply(batch); err != nil {
			return err
		}
	}
	rows := make([][]any, 0, len(batch))
	delta := map[string]int64{}
	for _, r := range batch {
		if r.Type == "poison" {
			return &runner.EventError{Position: r.Position, Type: r.Type, Err: errors.New("poison pill")}
		}
		s.n[r.Type]++
		delta[r.Type]++
		text := r.Type
		if r.Type == "nul" {
			text = "nul\x00byte" // Postgres refuses it: SQLSTATE 22021, for the whole batch
		}
		rows = append(rows, []any{r.Position, text, s.n[r.Type]})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"seen"}, []string{"position", "type", "running"}, pgx.CopyFromRows(rows)); err != nil {
		return err
	}
	if s.c.Version() >= 2 {
		if _, err := tx.Exec(ctx, "UPDATE seen SET parity = position % 2 WHERE position >= $1", batch[0].Position); err != nil {
			return err
		}
	}
	for typ, d := range delta {
		if _, err := tx.Exec(ctx, `INSERT INTO totals (type, n) VALUES ($1, $2) ON CONFLICT (type) DO UPDATE SET n = totals.n + EXCLUDED.n`, typ, d); err != nil {
			return err
		}
	}
	return nil
}

type env struct {
	pool  *pgxpool.Pool
	store *pgstore.Store
}

func newEnv(t *testing.T) env {
	t.Helper()
	ctx := context.Background()
	dsn := logtest.MigratedDatabase(t)
	pool, err := pgdb.OpenPool(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	store, err := pgstore.New(pool, pgstore.Options{RecheckInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close(); pool.Close() })
	return env{pool: pool, store: store}
}

var typesCycle = []string{"a.happened", "b.happened", "c.happened"}

// appendN appends n events (types cycling), poison at the given 1-based
// indexes of this call.
func (e env) appendN(t *testing.T, n int, poison ...int) {
	t.Helper()
	if err := e.appendEvents(n, poison...); err != nil {
		t.Fatal(err)
	}
}

func (e env) appendEvents(n int, poison ...int) error {
	return e.appendTyped(n, "poison", poison...)
}

// appendTyped appends n events (types cycling), of type bad at the given
// 1-based indexes of this call.
func (e env) appendTyped(n int, badType string, poison ...int) error {
	bad := map[int]bool{}
	for _, p := range poison {
		bad[p] = true
	}
	const chunk = 500
	for i := 0; i < n; i += chunk {
		var evs []eventstore.Event
		for j := i; j < min(n, i+chunk); j++ {
			typ := typesCycle[j%len(typesCycle)]
			if bad[j+1] {
				typ = badType
			}
			evs = append(evs, eventstore.Event{
				ID: uuid.New(), Type: typ, SchemaVersion: 1,
				Data: []byte(fmt.Sprintf(`{"i":%d}`, j)), OccurredAt: time.Unix(1767225600, 0).UTC(),
			})
		}
		if _, err := e.store.Append(context.Background(), "test-"+uuid.NewString(), eventstore.Any, evs...); err != nil {
			return err
		}
	}
	return nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline, not synchronisation
	}
}

func head(t *testing.T, e env) int64 {
	t.Helper()
	h, err := e.store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestRunnerCatchesUpAndFollows(t *testing.T) {
	e := newEnv(t)
	e.appendN(t, 1200)
	reg := prometheus.NewRegistry()
	r, err := runner.New(e.pool, e.store, &counter{}, runner.Options{BatchSize: 500, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	waitFor(t, "catch up", func() bool { s := r.Status(); return s.State == runner.StateLive && s.Position == 1200 })
	e.appendN(t, 30)
	waitFor(t, "follow", func() bool { return r.Status().Position == 1230 })

	var rows, total int64
	if err := e.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM proj_counter.seen), (SELECT sum(n) FROM proj_counter.totals)`).Scan(&rows, &total); err != nil {
		t.Fatal(err)
	}
	if rows != 1230 || total != 1230 {
		t.Fatalf("rows %d total %d, want 1230", rows, total)
	}
	waitFor(t, "position metric", func() bool { return gauge(t, reg, "dealcredit_projection_position") == 1230 })
	if lag := gauge(t, reg, "dealcredit_projection_lag_events"); lag != 0 {
		t.Fatalf("lag_events %v, want 0", lag)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	cp, err := runner.ReadCheckpoint(context.Background(), e.pool, "counter")
	if err != nil || cp.Position != 1230 {
		t.Fatalf("checkpoint %+v %v", cp, err)
	}
}

// A runner of a new version of a projection finds the live tables at the
// old version: it rebuilds them (beside the old ones, then swaps) before it
// follows the log.
func TestRunnerRebuildsTablesOfAnotherVersion(t *testing.T) {
	e := newEnv(t)
	e.appendN(t, 300)
	ctx := context.Background()
	run := func(c *counter, want int64) {
		t.Helper()
		r, err := runner.New(e.pool, e.store, c, runner.Options{BatchSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- r.Run(rctx) }()
		waitFor(t, "catch up", func() bool { s := r.Status(); return s.State == runner.StateLive && s.Position == want })
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	run(&counter{}, 300)
	e.appendN(t, 50)
	run(&counter{version: 2}, 350)
	cp, err := runner.ReadCheckpoint(ctx, e.pool, "counter")
	if err != nil || cp.Version != 2 || cp.Position != 350 {
		t.Fatalf("checkpoint %+v %v", cp, err)
	}
	var rows, odd int64
	if err := e.pool.QueryRow(ctx, "SELECT count(*), sum(parity) FROM proj_counter.seen").Scan(&rows, &odd); err != nil {
		t.Fatal(err)
	}
	if rows != 350 || odd != 175 {
		t.Fatalf("rebuilt tables: %d rows, %d odd, want 350 and 175", rows, odd)
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "projection" && l.GetValue() == "counter" {
						return m.GetGauge().GetValue()
					}
				}
			}
		}
	}
	return -1
}

// startRunner runs a counter runner until the test ends.
func startRunner(t *testing.T, e env, c *counter, reg prometheus.Registerer) *runner.Runner {
	t.Helper()
	r, err := runner.New(e.pool, e.store, c, runner.Options{BatchSize: 10, Registerer: reg, LagInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// skip appends the audited skip fact of the counter projection for the
// event at pos, as `dealcredit projection skip` does.
func skip(t *testing.T, e env, pos int64) {
	t.Helper()
	recs, err := e.store.ReadAll(context.Background(), pos-1, 1)
	if err != nil || len(recs) != 1 {
		t.Fatalf("read %d: %v", pos, err)
	}
	ev := domain.ProjectionEventSkipped{Projection: "counter", Position: pos, EventID: recs[0].ID.String(), Type: recs[0].Type,
		Reason: "test", Actor: "tester", SkippedAt: time.Unix(1767225600, 0).UTC()}
	typ, ver, data, err := domain.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Append(context.Background(), domain.StreamOf(ev), eventstore.Any,
		eventstore.Event{ID: uuid.New(), Type: typ, SchemaVersion: ver, Data: data, OccurredAt: ev.SkippedAt}); err != nil {
		t.Fatal(err)
	}
}

func rowCount(t *testing.T, e env) int64 {
	t.Helper()
	var rows int64
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM proj_counter.seen`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

// A projection stops at an event it cannot apply, whether the projection
// names it (an EventError) or only the database refuses the batch (a NUL
// byte in text: the runner narrows the batch down to the event). It records
// where and why, its lag grows while it waits, it never retries the event by
// itself, and a skip fact in the log lets it go on, to the same tables as a
// rebuild.
func TestRunnerStopsAtFailingEventUntilSkipped(t *testing.T) {
	for _, tc := range []struct{ typ, reason string }{
		{"poison", "poison pill"},
		{"nul", "22021"},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			e := newEnv(t)
			if err := e.appendTyped(40, tc.typ, 23); err != nil {
				t.Fatal(err)
			}
			var applied atomic.Int64
			reg := prometheus.NewRegistry()
			r := startRunner(t, e, &counter{onApply: func([]eventstore.Record) { applied.Add(1) }}, reg)
			waitFor(t, "stop", func() bool { return r.Status().State == runner.StateFailed })
			s := r.Status()
			if s.FailedPosition != 23 || s.FailedType != tc.typ || s.Position != 22 || s.Ready() || s.FailedEventID == "" ||
				!strings.Contains(s.Error, tc.reason) {
				t.Fatalf("status %+v", s)
			}
			cp, err := runner.ReadCheckpoint(context.Background(), e.pool, "counter")
			if err != nil {
				t.Fatal(err)
			}
			if cp.Position != 22 || cp.Status != "failed" || cp.FailedPosition != 23 || cp.FailedType != tc.typ ||
				cp.FailedEventID != s.FailedEventID || cp.Error == "" {
				t.Fatalf("checkpoint %+v", cp)
			}
			if rows := rowCount(t, e); rows != 22 {
				t.Fatalf("rows %d, want 22 (everything before the failing event)", rows)
			}
			if g := gauge(t, reg, "dealcredit_projection_stopped"); g != 1 {
				t.Fatalf("stopped gauge %v, want 1", g)
			}
			if g := gauge(t, reg, "dealcredit_projection_stopped_position"); g != 23 {
				t.Fatalf("stopped position gauge %v, want 23", g)
			}
			// Stopped, the lag follows the head, and new commits do not make
			// the runner try the failing batch again.
			before := applied.Load()
			waitFor(t, "lag 18", func() bool { return gauge(t, reg, "dealcredit_projection_lag_events") == 18 })
			e.appendN(t, 30)
			waitFor(t, "lag 48", func() bool { return gauge(t, reg, "dealcredit_projection_lag_events") == 48 })
			waitFor(t, "lag seconds", func() bool { return gauge(t, reg, "dealcredit_projection_lag_seconds") > 0 })
			if n := applied.Load(); n != before {
				t.Fatalf("a stopped runner applied %d more batches", n-before)
			}

			skip(t, e, 23)
			waitFor(t, "resume", func() bool { s := r.Status(); return s.State == runner.StateLive && s.Position == head(t, e) })
			if rows := rowCount(t, e); rows != 70 {
				t.Fatalf("rows %d, want 70 (every event but the skipped one)", rows)
			}
			if g := gauge(t, reg, "dealcredit_projection_stopped"); g != 0 {
				t.Fatalf("stopped gauge %v after the skip, want 0", g)
			}
			rep, err := runner.Verify(context.Background(), e.pool, e.store, 0, &counter{})
			if err != nil || !rep.OK() {
				t.Fatalf("verify after skip: %v %v", rep, err)
			}
		})
	}
}

// A transient error (here a lost connection) is retried with backoff, the
// projection is never marked stopped, and it catches up once the error is
// gone.
func TestRunnerRetriesTransientErrors(t *testing.T) {
	e := newEnv(t)
	e.appendN(t, 40)
	var fails atomic.Int64
	reg := prometheus.NewRegistry()
	r := startRunner(t, e, &counter{failApply: func([]eventstore.Record) error {
		if fails.Add(1) <= 3 {
			return fmt.Errorf("write: %w", io.ErrUnexpectedEOF)
		}
		return nil
	}}, reg)
	waitFor(t, "retrying", func() bool { return r.Status().State == runner.StateRetrying })
	waitFor(t, "caught up", func() bool { s := r.Status(); return s.State == runner.StateLive && s.Position == 40 })
	if n := fails.Load(); n < 4 {
		t.Fatalf("%d attempts, want the 3 failures retried", n)
	}
	if g := gauge(t, reg, "dealcredit_projection_stopped"); g != 0 {
		t.Fatalf("stopped gauge %v, want 0", g)
	}
	if rows := rowCount(t, e); rows != 40 {
		t.Fatalf("rows %d, want 40", rows)
	}
}

// The lag gauge follows the head while the projection cannot commit at
// all (its checkpoint row is locked, as a stuck transaction would).
func TestRunnerLagGrowsWhileStuck(t *testing.T) {
	e := newEnv(t)
	e.appendN(t, 10)
	reg := prometheus.NewRegistry()
	r := startRunner(t, e, &counter{}, reg)
	waitFor(t, "caught up", func() bool { return r.Status().Position == 10 })
	tx, err := e.pool.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(context.Background(), "SELECT 1 FROM projection_checkpoints WHERE name = 'counter' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	e.appendN(t, 25)
	waitFor(t, "lag 25", func() bool { return gauge(t, reg, "dealcredit_projection_lag_events") == 25 })
	if err := tx.Rollback(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "lag 0", func() bool {
		return gauge(t, reg, "dealcredit_projection_lag_events") == 0 && r.Status().Position == 35
	})
}

func TestRunnerKilledAtRandomPointsIsExactlyOnce(t *testing.T) {
	n, kills := 3000, 12
	if os.Getenv("DEALCREDIT_SOAK") != "" {
		n, kills = 50000, 25
	}
	e := newEnv(t)
	e.appendN(t, n)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	t.Logf("events %d kills %d", n, kills)

	midway := 0
	for k := 0; k < kills; k++ {
		ctx, cancel := context.WithCancel(context.Background())
		left := rng.IntN(3) + 1
		var calls atomic.Int64
		p := &counter{onApply: func(batch []eventstore.Record) {
			// Kill mid-transaction after a random number of batches: the
			// batch's writes and checkpoint must vanish together.
			if calls.Add(1) >= int64(left) {
				cancel()
			}
		}}
		bs := n/(kills*3) + rng.IntN(n/(kills*3))
		r, err := runner.New(e.pool, e.store, p, runner.Options{BatchSize: bs})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		waitFor(t, "kill", func() bool {
			if r.Status().State == runner.StateLive {
				cancel() // caught up before the kill point
			}
			return ctx.Err() != nil
		})
		if err := <-done; err != nil {
			t.Fatalf("kill %d: %v", k, err)
		}
		if calls.Load() >= int64(left) {
			midway++
		}
	}
	if midway < 10 {
		t.Fatalf("only %d kills happened mid-batch, want >= 10", midway)
	}
	r, err := runner.New(e.pool, e.store, &counter{}, runner.Options{BatchSize: 777})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	waitFor(t, "final catch up", func() bool { return r.Status().Position == int64(n) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	rep, err := runner.Verify(context.Background(), e.pool, e.store, 1000, &counter{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("live differs from clean rebuild:\n%s", rep)
	}
	if rep.Projections[0].Live[0].Rows != int64(n) {
		t.Fatalf("seen rows %d, want %d", rep.Projections[0].Live[0].Rows, n)
	}
}

func TestVerifyNamesFirstDifferingRow(t *testing.T) {
	e := newEnv(t)
	e.appendN(t, 100)
	ctx := context.Background()
	if err := runner.Rebuild(ctx, e.pool, e.store, &counter{}, 30, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := runner.Verify(ctx, e.pool, e.store, 0, &counter{})
	if err != nil || !rep.OK() {
		t.Fatalf("verify after rebuild: %v\n%s", err, rep)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE proj_counter.seen SET running = running + 1 WHERE position = 42`); err != nil {
		t.Fatal(err)
	}
	rep, err = runner.Verify(ctx, e.pool, e.store, 0, &counter{})
	if err != nil {
		t.Fatal(err)
	}
	pr := rep.Projections[0]
	if rep.OK() || pr.Table != "seen" || pr.FirstDiff != "rebuilt: (42,c.happened,14)" {
		t.Fatalf("report %+v", pr)
	}
}

func TestRebuildsGiveIdenticalDigests(t *testing.T) {
	e := newEnv(t)
	e.appendN(t, 700)
	ctx := context.Background()
	var digests [2][]runner.TableDigest
	for i, bs := range []int{64, 5000} {
		if err := runner.Rebuild(ctx, e.pool, e.store, &counter{}, bs, nil); err != nil {
			t.Fatal(err)
		}
		d, err := runner.Digest(ctx, e.pool, &counter{}, runner.Schema("counter"))
		if err != nil {
			t.Fatal(err)
		}
		digests[i] = d
	}
	if fmt.Sprint(digests[0]) != fmt.Sprint(digests[1]) || digests[0][0].Rows != 700 {
		t.Fatalf("digests differ: %v vs %v", digests[0], digests[1])
	}
}

func TestReadersDuringRebuildSeeCompleteModel(t *testing.T) {
	n := 4000
	if testing.Short() {
		n = 1500
	}
	e := newEnv(t)
	e.appendN(t, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	r, err := runner.New(e.pool, e.store, &counter{}, runner.Options{BatchSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	waitFor(t, "live runner", func() bool { return r.Status().Position == int64(n) })

	// Writers keep appending, readers keep checking that what they see is
	// a complete prefix of the log, while the projection is rebuilt twice.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var reads atomic.Int64
	readErr := make(chan error, 4)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var cnt, maxPos, total int64
				err := e.pool.QueryRow(ctx, `SELECT count(*), coalesce(max(position), 0),
					(SELECT coalesce(sum(n), 0) FROM proj_counter.totals) FROM proj_counter.seen`).Scan(&cnt, &maxPos, &total)
				if err != nil {
					readErr <- err
					return
				}
				if cnt != maxPos || total != cnt || cnt < int64(n) {
					readErr <- fmt.Errorf("incomplete model: %d rows, max position %d, total %d", cnt, maxPos, total)
					return
				}
				reads.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 5; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := e.appendEvents(40); err != nil {
				readErr <- err
				return
			}
		}
	}()
	for i := 0; i < 2; i++ {
		if err := runner.Rebuild(ctx, e.pool, e.store, &counter{}, 250, nil); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-readErr:
		t.Fatal(err)
	default:
	}
	if reads.Load() == 0 {
		t.Fatal("no reads happened")
	}
	waitFor(t, "runner after swaps", func() bool { return r.Status().Position == head(t, e) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rep, err := runner.Verify(context.Background(), e.pool, e.store, 0, &counter{})
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v\n%s", err, rep)
	}
	t.Logf("%d consistent reads during rebuilds", reads.Load())
}
