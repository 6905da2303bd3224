package runner

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// checkpointsDDL creates the table shared by every projection. It is
// idempotent and runs under an advisory lock (see Ensure).
const checkpointsDDL = `
CREATE TABLE IF NOT EXISTS projection_checkpoints (
	name            text PRIMARY KEY,
	position        bigint NOT NULL DEFAULT 0,
	updated_at      timestamptz NOT NULL DEFAULT now(),
	status          text NOT NULL DEFAULT 'idle',
	error           text,
	failed_position bigint,
	failed_type     text
);
ALTER TABLE projection_checkpoints ADD COLUMN IF NOT EXISTS version int NOT NULL DEFAULT 0;
ALTER TABLE projection_checkpoints ADD COLUMN IF NOT EXISTS failed_event_id text`

// setupLockKey serialises schema creation across processes.
const setupLockKey = 0x64637072 // "dcpr"

// Ensure creates the checkpoint table, the projection's live schema and its
// tables and checkpoint row when they are missing. It is safe to call from
// several processes at once.
func Ensure(ctx context.Context, pool *pgxpool.Pool, p Projection) error {
	if err := checkName(p); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", setupLockKey); err != nil {
			return fmt.Errorf("projection: setup lock: %w", err)
		}
		if _, err := tx.Exec(ctx, checkpointsDDL); err != nil {
			return fmt.Errorf("projection: create checkpoints: %w", err)
		}
		schema := Schema(p.Name())
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
			return fmt.Errorf("projection: look up schema %s: %w", schema, err)
		}
		if exists {
			_, err := tx.Exec(ctx, "INSERT INTO projection_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING", p.Name())
			if err != nil {
				return fmt.Errorf("projection: checkpoint %s: %w", p.Name(), err)
			}
			return nil
		}
		if err := createSchema(ctx, tx, p, schema); err != nil {
			return err
		}
		if err := createIndexes(ctx, tx, p); err != nil {
			return err
		}
		// A missing schema means no tables: start from 0 whatever the row said.
		_, err := tx.Exec(ctx, `INSERT INTO projection_checkpoints (name, position, status, version) VALUES ($1, 0, 'idle', $2)
			ON CONFLICT (name) DO UPDATE SET position = 0, status = 'idle', error = NULL, failed_position = NULL, failed_type = NULL, failed_event_id = NULL,
			version = EXCLUDED.version, updated_at = now()`, p.Name(), p.Version())
		if err != nil {
			return fmt.Errorf("projection: checkpoint %s: %w", p.Name(), err)
		}
		return nil
	})
}

// createIndexes creates the indexes of an Indexer in the search_path schema.
func createIndexes(ctx context.Context, tx pgx.Tx, p Projection) error {
	ix, ok := p.(Indexer)
	if !ok {
		return nil
	}
	for _, q := range ix.Indexes() {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("projection: index %s: %w", p.Name(), err)
		}
	}
	return nil
}

// createSchema (re)creates schema with the projection's tables (without the
// indexes of an Indexer), inside tx.
func createSchema(ctx context.Context, tx pgx.Tx, p Projection, schema string) error {
	id := pgx.Identifier{schema}.Sanitize()
	if _, err := tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+id+" CASCADE"); err != nil {
		return fmt.Errorf("projection: drop schema %s: %w", schema, err)
	}
	if _, err := tx.Exec(ctx, "CREATE SCHEMA "+id); err != nil {
		return fmt.Errorf("projection: create schema %s: %w", schema, err)
	}
	if err := setSearchPath(ctx, tx, schema); err != nil {
		return err
	}
	if err := p.Setup(ctx, tx); err != nil {
		return fmt.Errorf("projection: setup %s in %s: %w", p.Name(), schema, err)
	}
	return nil
}

// Checkpoint is a projection's stored progress and status.
type Checkpoint struct {
	Name           string `json:"name"`
	Position       int64  `json:"position"`
	Status         string `json:"status"`  // idle, running, failed
	Version        int    `json:"version"` // the projection version of the live tables
	Error          string `json:"error,omitempty"`
	FailedPosition int64  `json:"failed_position,omitempty"`
	FailedType     string `json:"failed_type,omitempty"`
	FailedEventID  string `json:"failed_event_id,omitempty"`
}

// checkpointSQL reads a checkpoint ($1: the projection's name) in
// scanCheckpoint's order.
const checkpointSQL = `SELECT position, status, version, error, failed_position, failed_type, failed_event_id
		FROM projection_checkpoints WHERE name = $1`

// ReadCheckpoint returns the stored checkpoint of the projection named name.
func ReadCheckpoint(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, name string) (Checkpoint, error) {
	return scanCheckpoint(q.QueryRow(ctx, checkpointSQL, name), name)
}

// QueueReadCheckpoint queues the read of the checkpoint of the projection
// named name on b, to go in one round trip with the batch's other queries:
// *c is set when the batch's results are read (an error of the read is the
// batch's Close error).
func QueueReadCheckpoint(b *pgx.Batch, name string, c *Checkpoint) {
	b.Queue(checkpointSQL, name).QueryRow(func(row pgx.Row) error {
		var err error
		*c, err = scanCheckpoint(row, name)
		return err
	})
}

func scanCheckpoint(row pgx.Row, name string) (Checkpoint, error) {
	c := Checkpoint{Name: name}
	var errText, failedType, failedID *string
	var failedPos *int64
	err := row.Scan(&c.Position, &c.Status, &c.Version, &errText, &failedPos, &failedType, &failedID)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("projection: no checkpoint for %q", name)
	}
	if err != nil {
		return c, fmt.Errorf("projection: read checkpoint %s: %w", name, err)
	}
	if errText != nil {
		c.Error = *errText
	}
	if failedPos != nil {
		c.FailedPosition = *failedPos
	}
	if failedType != nil {
		c.FailedType = *failedType
	}
	if failedID != nil {
		c.FailedEventID = *failedID
	}
	return c, nil
}

// lockCheckpoint locks the projection's checkpoint row for the rest of tx
// and returns its position. Holding it stops the live runner of that
// projection (in any process) from committing.
func lockCheckpoint(ctx context.Context, tx pgx.Tx, name string) (int64, error) {
	var pos int64
	err := tx.QueryRow(ctx, "SELECT position FROM projection_checkpoints WHERE name = $1 FOR UPDATE", name).Scan(&pos)
	if err != nil {
		return 0, fmt.Errorf("projection: lock checkpoint %s: %w", name, err)
	}
	return pos, nil
}

func writeCheckpoint(ctx context.Context, tx pgx.Tx, name string, pos int64) error {
	_, err := tx.Exec(ctx, `UPDATE projection_checkpoints SET position = $2, updated_at = now(), status = 'running',
		error = NULL, failed_position = NULL, failed_type = NULL, failed_event_id = NULL WHERE name = $1`, name, pos)
	if err != nil {
		return fmt.Errorf("projection: write checkpoint %s: %w", name, err)
	}
	return nil
}

func writeFailure(ctx context.Context, pool *pgxpool.Pool, name string, ee *EventError) error {
	_, err := pool.Exec(ctx, `UPDATE projection_checkpoints SET status = 'failed', error = $2, failed_position = $3,
		failed_type = $4, failed_event_id = $5, updated_at = now() WHERE name = $1`, name, ee.Error(), ee.Position, ee.Type, ee.EventID)
	if err != nil {
		return fmt.Errorf("projection: record failure of %s: %w", name, err)
	}
	return nil
}
