package runner_test

import (
	"context"
	"errors"
	"testing"

	"dealcredit/eventstore"
	"dealcredit/projections/runner"

	"github.com/jackc/pgx/v5"
)

// streaming is the counter projection with a runner.Streamer state: during a
// build its "seen" rows go through the stream's transaction, the totals
// through each batch's.
type streaming struct {
	counter
	last *streamingState // the state LoadState returned last
}

func (s *streaming) LoadState(ctx context.Context, tx pgx.Tx) (runner.State, error) {
	st, err := s.counter.LoadState(ctx, tx)
	if err != nil {
		return nil, err
	}
	s.last = &streamingState{counterState: st.(*counterState)}
	return s.last, nil
}

type streamingState struct {
	*counterState
	stream  pgx.Tx
	ended   []error // the errors EndStream was called with
	batches int     // batches applied while streaming
}

func (s *streamingState) StartStream(_ context.Context, tx pgx.Tx) { s.stream = tx }

func (s *streamingState) EndStream(err error) error {
	s.ended = append(s.ended, err)
	s.stream = nil
	return nil
}

func (s *streamingState) Apply(ctx context.Context, tx pgx.Tx, batch []eventstore.Record) error {
	if s.stream == nil {
		return s.counterState.Apply(ctx, tx, batch)
	}
	s.batches++
	for _, r := range batch {
		if r.Type == "poison" {
			return &runner.EventError{Position: r.Position, Type: r.Type, Err: errors.New("poison pill")}
		}
		s.n[r.Type]++
		if _, err := s.stream.Exec(ctx, "INSERT INTO seen (position, type, running) VALUES ($1, $2, $3)", r.Position, r.Type, s.n[r.Type]); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO totals (type, n) VALUES ($1, 1) ON CONFLICT (type) DO UPDATE SET n = totals.n + 1`, r.Type); err != nil {
			return err
		}
	}
	return nil
}

func countIn(t *testing.T, e env, schema, table string) int64 {
	t.Helper()
	var n int64
	if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{schema, table}.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBuildStreamsRowsOnTheirOwnTransaction(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		poison []int
	}{
		{"complete", nil},
		{"fails at event 23", []int{23}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.appendN(t, 40, c.poison...)
			p := &streaming{}
			schema := "proj_counter_build"
			pos, st, err := runner.Build(ctx, e.pool, e.store, p, schema, runner.Limit{}, 7, nil)
			var ee *runner.EventError
			if c.poison != nil {
				if !errors.As(err, &ee) || ee.Position != 23 {
					t.Fatalf("Build: %v, want the poison pill at 23", err)
				}
				if ended := p.last.ended; len(ended) != 1 || !errors.As(ended[0], &ee) {
					t.Fatalf("EndStream calls %v, want one with the build's error", ended)
				}
				// The stream's rows are rolled back with the failed build; the
				// batches before the failure committed their totals.
				if n := countIn(t, e, schema, "seen"); n != 0 {
					t.Fatalf("%d streamed rows committed by a failed build", n)
				}
				if n := countIn(t, e, schema, "totals"); n != 3 {
					t.Fatalf("%d totals committed before the failure, want 3", n)
				}
				return
			}
			if err != nil || pos != 40 {
				t.Fatalf("Build: position %d, %v", pos, err)
			}
			s := st.(*streamingState)
			if s != p.last {
				t.Fatal("Build returned another state than the one it streamed with")
			}
			if len(s.ended) != 1 || s.ended[0] != nil || s.batches != 6 {
				t.Fatalf("EndStream calls %v, batches streamed %d (want one call with nil, 6 batches)", s.ended, s.batches)
			}
			if n := countIn(t, e, schema, "seen"); n != 40 {
				t.Fatalf("%d streamed rows committed, want 40", n)
			}
			// After the build, batches go through their own transaction again.
			e.appendN(t, 5)
			err = pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+pgx.Identifier{schema}.Sanitize()); err != nil {
					return err
				}
				recs, err := e.store.ReadAll(ctx, pos, 10)
				if err != nil {
					return err
				}
				return s.Apply(ctx, tx, recs)
			})
			if err != nil {
				t.Fatal(err)
			}
			if n := countIn(t, e, schema, "seen"); n != 45 || s.batches != 6 {
				t.Fatalf("after the build: %d rows, %d batches streamed; want 45 and 6", n, s.batches)
			}
		})
	}
}
