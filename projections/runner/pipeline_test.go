package runner_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"dealcredit/eventstore"
	"dealcredit/projections/runner"

	"github.com/jackc/pgx/v5"
)

// pipelining is the counter projection with a runner.Pipeliner state. The
// write of each batch but the last waits until the next batch was folded, so
// a Build that did not fold batch N+1 while batch N is written never ends
// (the test's deadline fails it).
type pipelining struct {
	counter
	head int64
	last *pipeliningState
}

func (p *pipelining) LoadState(ctx context.Context, tx pgx.Tx) (runner.State, error) {
	st, err := p.counter.LoadState(ctx, tx)
	if err != nil {
		return nil, err
	}
	p.last = &pipeliningState{counterState: st.(*counterState), head: p.head}
	return p.last, nil
}

type pipeliningState struct {
	*counterState
	head int64

	mu       sync.Mutex
	folds    int
	written  int
	folded   []chan struct{} // folded[k] is closed when batch k+1 is folded
	problems []string
}

func (s *pipeliningState) problem(format string, args ...any) {
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
}

func (s *pipeliningState) Fold(ctx context.Context, tx pgx.Tx, batch []eventstore.Record) (runner.Writes, error) {
	var ro string
	if err := tx.QueryRow(ctx, "SHOW transaction_read_only").Scan(&ro); err != nil {
		return nil, err
	}
	s.mu.Lock()
	k := s.folds
	s.folds++
	if ro != "on" {
		s.problem("batch %d folded in a transaction that can write", k)
	}
	if s.written < k-1 {
		s.problem("batch %d folded with %d batches written: more than one in flight", k, s.written)
	}
	if k > 0 {
		close(s.folded[k-1])
	}
	next := make(chan struct{})
	s.folded = append(s.folded, next)
	s.mu.Unlock()
	w := &countWrites{s: s, k: k, next: next, last: batch[len(batch)-1].Position, delta: map[string]int64{}}
	for _, r := range batch {
		s.n[r.Type]++
		w.delta[r.Type]++
		w.rows = append(w.rows, []any{r.Position, r.Type, s.n[r.Type]})
	}
	return w, nil
}

type countWrites struct {
	s     *pipeliningState
	k     int
	next  <-chan struct{}
	last  int64
	rows  [][]any
	delta map[string]int64
}

func (w *countWrites) Write(ctx context.Context, tx pgx.Tx) error {
	if w.last < w.s.head {
		select {
		case <-w.next:
		case <-ctx.Done():
			return fmt.Errorf("batch %d: the next batch was not folded while it was written: %w", w.k, ctx.Err())
		}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"seen"}, []string{"position", "type", "running"}, pgx.CopyFromRows(w.rows)); err != nil {
		return err
	}
	for typ, d := range w.delta {
		if _, err := tx.Exec(ctx, `INSERT INTO totals (type, n) VALUES ($1, $2) ON CONFLICT (type) DO UPDATE SET n = totals.n + EXCLUDED.n`, typ, d); err != nil {
			return err
		}
	}
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if w.s.written != w.k {
		w.s.problem("batch %d written after %d batches: out of order", w.k, w.s.written)
	}
	w.s.written++
	return nil
}

// A Pipeliner's batches are folded while the batch before is written, one
// batch in flight, written in order; the tables equal those of the plain
// State's build.
func TestBuildPipelinesFoldAndWrite(t *testing.T) {
	e := newEnv(t)
	e.appendN(t, 1000)
	h := head(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := &pipelining{head: h}
	var progress []int64
	pos, _, err := runner.Build(ctx, e.pool, e.store, p, "pipelined", runner.Limit{}, 70, func(pos, _ int64) {
		progress = append(progress, pos)
	})
	if err != nil {
		t.Fatal(err)
	}
	st := p.last
	if pos != h || st.folds != 15 || st.written != 15 || len(st.problems) > 0 {
		t.Fatalf("built to %d of %d, %d folds, %d writes, problems: %v", pos, h, st.folds, st.written, st.problems)
	}
	if len(progress) != 16 || progress[len(progress)-1] != h {
		t.Fatalf("progress after each written batch: %v", progress)
	}
	if _, _, err := runner.Build(ctx, e.pool, e.store, &counter{}, "plain", runner.Limit{}, 70, nil); err != nil {
		t.Fatal(err)
	}
	a, err := runner.Digest(ctx, e.pool, &counter{}, "pipelined")
	if err != nil {
		t.Fatal(err)
	}
	b, err := runner.Digest(ctx, e.pool, &counter{}, "plain")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a) != fmt.Sprint(b) || a[0].Rows != h {
		t.Fatalf("tables: pipelined %v, plain %v", a, b)
	}
}
