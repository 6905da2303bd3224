package runner

import (
	"context"
	"errors"
	"fmt"

	"dealcredit/eventstore"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrRebuildRunning is returned when a rebuild of the same projection is
// already running (in any process).
var ErrRebuildRunning = errors.New("projection: rebuild already running")

// Build creates schema afresh with p's tables (without the readers' indexes
// of an Indexer: a scratch or replay schema is read once, in full) and folds
// the log into it up to limit, one transaction per batch. It returns the
// position reached and the state at that position. Progress, when not nil,
// is called before the first batch and after each batch with the position
// reached and the head of the log (the limit when that is lower). The events
// skipped for p (LoadSkips, read when the build starts) are left out.
func Build(ctx context.Context, pool *pgxpool.Pool, log eventstore.Reader, p Projection, schema string, limit Limit, batchSize int, progress func(pos, head int64)) (int64, State, error) {
	if err := checkName(p); err != nil {
		return 0, nil, err
	}
	if batchSize <= 0 {
		batchSize = DefaultBatchSize
	}
	state, err := emptyState(ctx, pool, p, schema)
	if err != nil {
		return 0, nil, err
	}
	head, err := log.Head(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("projection: head: %w", err)
	}
	skips, err := LoadSkips(ctx, log, p.Name())
	if err != nil {
		return 0, nil, err
	}
	streamer, _ := state.(Streamer)
	pipeliner, _ := state.(Pipeliner)
	state = withSkips(state, skips)
	if limit.Position > 0 && limit.Position < head {
		head = limit.Position
	}
	if progress != nil && limit.Position >= 0 {
		progress(0, head)
	}
	done := func(last int64) {
		if progress != nil {
			head = max(head, last)
			progress(last, head)
		}
	}
	pos, err := withStream(ctx, pool, schema, streamer, func() (int64, error) {
		if pipeliner != nil {
			return buildPipelined(ctx, pool, log, pipeliner, skips, schema, limit, batchSize, done)
		}
		return buildApplied(ctx, pool, log, state, schema, limit, batchSize, done)
	})
	if err != nil {
		return pos, nil, err
	}
	return pos, state, nil
}

// emptyState creates schema afresh with p's tables and returns the state
// they stand for (position 0).
func emptyState(ctx context.Context, pool *pgxpool.Pool, p Projection, schema string) (State, error) {
	var state State
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := createSchema(ctx, tx, p, schema); err != nil {
			return err
		}
		var err error
		if state, err = p.LoadState(ctx, tx); err != nil {
			return fmt.Errorf("projection: load empty state of %s: %w", p.Name(), err)
		}
		return nil
	})
	return state, err
}

// buildApplied is Build's fold of a State that is not a Pipeliner: one
// transaction per batch, read, folded and written in turn. done is called
// with each batch's last position once it committed.
func buildApplied(ctx context.Context, pool *pgxpool.Pool, log eventstore.Reader, state State, schema string,
	limit Limit, batchSize int, done func(last int64)) (int64, error) {
	return foldRange(ctx, log, 0, limit, batchSize, func(b []eventstore.Record) error {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if err := setSearchPath(ctx, tx, schema); err != nil {
				return err
			}
			return state.Apply(ctx, tx, b)
		})
		if err != nil {
			return fmt.Errorf("projection: build %s: %w", schema, err)
		}
		done(b[len(b)-1].Position)
		return nil
	})
}

// buildPipelined is Build's fold of a Pipeliner: batch N+1 is folded (read
// and computed) while batch N's writes commit, each batch in a transaction
// of its own, in log order; at most one batch is in flight. done is called
// with each batch's last position once its writes committed. It returns the
// position of the last batch written.
func buildPipelined(ctx context.Context, pool *pgxpool.Pool, log eventstore.Reader, p Pipeliner, skips Skips, schema string,
	limit Limit, batchSize int, done func(last int64)) (int64, error) {
	var (
		written  int64
		inFlight chan error // the write of the batch ending at flightEnd; nil: none
		flight   int64
	)
	wait := func() error {
		if inFlight == nil {
			return nil
		}
		err := <-inFlight
		inFlight = nil
		if err != nil {
			return fmt.Errorf("projection: build %s: %w", schema, err)
		}
		written = flight
		done(flight)
		return nil
	}
	_, err := foldRange(ctx, log, 0, limit, batchSize, func(b []eventstore.Record) error {
		w, err := foldOnly(ctx, pool, p, schema, skips.filter(b))
		if werr := wait(); werr != nil {
			return werr
		}
		if err != nil {
			return fmt.Errorf("projection: build %s: %w", schema, err)
		}
		flight, inFlight = b[len(b)-1].Position, make(chan error, 1)
		go func(ch chan<- error) {
			ch <- pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				if err := setSearchPath(ctx, tx, schema); err != nil {
					return err
				}
				return w.Write(ctx, tx)
			})
		}(inFlight)
		return nil
	})
	if werr := wait(); err == nil {
		err = werr
	}
	return written, err
}

// foldOnly folds batch through a read-only transaction of its own (nil
// Writes for an empty batch).
func foldOnly(ctx context.Context, pool *pgxpool.Pool, p Pipeliner, schema string, batch []eventstore.Record) (Writes, error) {
	if len(batch) == 0 {
		return noWrites{}, nil
	}
	var w Writes
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := setSearchPath(ctx, tx, schema); err != nil {
			return err
		}
		var err error
		w, err = p.Fold(ctx, tx, batch)
		return err
	})
	return w, err
}

// noWrites are the writes of a batch whose records are all skipped.
type noWrites struct{}

func (noWrites) Write(context.Context, pgx.Tx) error { return nil }

// withStream runs fold with the stream of s (none when s is nil) open: it
// starts it before and ends it after, with fold's error.
func withStream(ctx context.Context, pool *pgxpool.Pool, schema string, s Streamer, fold func() (int64, error)) (int64, error) {
	if s == nil {
		return fold()
	}
	stream, err := startStream(ctx, pool, schema, s)
	if err != nil {
		return 0, err
	}
	pos, err := fold()
	return pos, endStream(ctx, stream, s, err)
}

// startStream begins the transaction of a Streamer's rows on a connection of
// its own and hands it over.
func startStream(ctx context.Context, pool *pgxpool.Pool, schema string, s Streamer) (pgx.Tx, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("projection: build %s: stream: %w", schema, err)
	}
	if err := setSearchPath(ctx, tx, schema); err != nil {
		_ = tx.Rollback(ctx)
		return nil, err
	}
	// The stream's statement (a COPY) lasts as long as the build: a timeout
	// set for the role or database must not end it half way.
	if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
		_ = tx.Rollback(ctx)
		return nil, fmt.Errorf("projection: build %s: stream: %w", schema, err)
	}
	s.StartStream(ctx, tx)
	return tx, nil
}

// endStream ends a Streamer's rows and commits them when the build (err) and
// the stream succeeded; it returns the first error.
func endStream(ctx context.Context, tx pgx.Tx, s Streamer, err error) error {
	if e := s.EndStream(err); err == nil && e != nil {
		err = e
	}
	if err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("projection: build: commit stream: %w", err)
	}
	return nil
}

// Rebuild rebuilds p from position 0 into a new schema beside the live one
// while the live runner keeps going, then, holding the projection's
// checkpoint lock (which pauses the live runner), applies the last events
// and swaps the schemas in one transaction. Readers see the old model or the
// new one, never a mix: each statement resolves proj_<name> to one schema.
func Rebuild(ctx context.Context, pool *pgxpool.Pool, log eventstore.Reader, p Projection, batchSize int, progress func(pos, head int64)) error {
	if err := Ensure(ctx, pool, p); err != nil {
		return err
	}
	if batchSize <= 0 {
		batchSize = DefaultBatchSize
	}
	name := p.Name()
	live, next := Schema(name), Schema(name)+"_next"

	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("projection: rebuild %s: %w", name, err)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtext('dealcredit.rebuild.' || $1))", name).Scan(&locked); err != nil {
		return fmt.Errorf("projection: rebuild %s: lock: %w", name, err)
	}
	if !locked {
		return fmt.Errorf("projection: rebuild %s: %w", name, ErrRebuildRunning)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext('dealcredit.rebuild.' || $1))", name)
	}()

	pos, state, err := Build(ctx, pool, log, p, next, Limit{}, batchSize, progress)
	if err == nil {
		// The readers' indexes, one sort each, before the schema goes live.
		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if err := setSearchPath(ctx, tx, next); err != nil {
				return err
			}
			return createIndexes(ctx, tx, p)
		})
	}
	if err != nil {
		dropSchema(ctx, pool, next)
		return err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := lockCheckpoint(ctx, tx, name); err != nil {
			return err
		}
		head, err := log.Head(ctx)
		if err != nil {
			return fmt.Errorf("projection: head: %w", err)
		}
		if err := setSearchPath(ctx, tx, next); err != nil {
			return err
		}
		pos, err = foldRange(ctx, log, pos, Limit{Position: head}, batchSize, func(b []eventstore.Record) error {
			return state.Apply(ctx, tx, b)
		})
		if err != nil {
			return err
		}
		old := Schema(name) + "_old"
		for _, q := range []string{
			"DROP SCHEMA IF EXISTS " + pgx.Identifier{old}.Sanitize() + " CASCADE",
			"ALTER SCHEMA " + pgx.Identifier{live}.Sanitize() + " RENAME TO " + pgx.Identifier{old}.Sanitize(),
			"ALTER SCHEMA " + pgx.Identifier{next}.Sanitize() + " RENAME TO " + pgx.Identifier{live}.Sanitize(),
			"DROP SCHEMA " + pgx.Identifier{old}.Sanitize() + " CASCADE",
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("projection: swap %s: %w", name, err)
			}
		}
		if err := writeCheckpoint(ctx, tx, name, pos); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE projection_checkpoints SET version = $2 WHERE name = $1", name, p.Version()); err != nil {
			return fmt.Errorf("projection: swap %s: %w", name, err)
		}
		if progress != nil {
			progress(pos, head)
		}
		return nil
	})
	if err != nil {
		dropSchema(ctx, pool, next)
		return fmt.Errorf("projection: rebuild %s: %w", name, err)
	}
	return nil
}

func dropSchema(ctx context.Context, pool *pgxpool.Pool, schema string) {
	_, _ = pool.Exec(context.WithoutCancel(ctx), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
}

// DropSchema removes schema and everything in it (used for scratch and
// replay schemas).
func DropSchema(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		return fmt.Errorf("projection: drop schema %s: %w", schema, err)
	}
	return nil
}
