// Package runner runs projections: it folds the ordered event log into
// Postgres read models, writing each batch's changes and the projection's
// checkpoint in the same transaction (exactly-once effect), follows live
// commits, rebuilds a projection beside the live one and swaps it in
// atomically, and verifies that a rebuild reproduces the live tables.
//
// Each projection owns one Postgres schema, proj_<name>. Its SQL uses
// unqualified table names; the runner sets search_path per transaction, so
// the same code writes the live schema, a rebuild schema or a scratch schema.
// Readers query proj_<name>.<table>.
package runner

import (
	"context"
	"fmt"
	"regexp"

	"dealcredit/domain"
	"dealcredit/eventstore"

	"github.com/jackc/pgx/v5"
)

// Projection is a read model defined as a fold of the ordered log.
type Projection interface {
	// Name identifies the projection: lower case letters, digits and '_'.
	Name() string
	// Version changes whenever the tables or the stored state change shape.
	// A runner that finds the live schema at another version rebuilds it
	// (beside the old one, then swaps) before it follows the log.
	Version() int
	// Setup creates the projection's tables in the current search_path
	// schema; it runs once per schema, inside a transaction.
	Setup(ctx context.Context, tx pgx.Tx) error
	// Tables names the projection's tables, compared by Verify.
	Tables() []string
	// LoadState returns the state the projection's tables stand for, read
	// through tx from the current search_path schema (the state at position
	// 0 when the tables are new). The runner calls it at start, after a
	// failed batch and when another process moved the checkpoint; the
	// checkpoint cannot move while tx is open.
	LoadState(ctx context.Context, tx pgx.Tx) (State, error)
}

// Indexer is implemented by a projection with indexes that only its readers
// need. Build folds the log into tables without them; Rebuild creates them
// after the load, before the swap (one sort per index instead of an update
// per row: much faster for a large log); Ensure creates them with the
// tables. Verify and replay schemas, read once in full, never get them.
type Indexer interface {
	// Indexes returns CREATE INDEX (or ALTER TABLE ... ADD PRIMARY KEY)
	// statements on the tables of Setup, unqualified.
	Indexes() []string
}

// State is a projection's state while folding the log: whatever it keeps in
// memory must be restorable by LoadState from what Apply wrote. A State is
// used by one goroutine at a time.
type State interface {
	// Apply folds batch (consecutive records, in order) into the state and
	// writes the resulting changes through tx. An error caused by a record
	// must be an *EventError. After any error, or when tx does not commit,
	// the State is discarded.
	Apply(ctx context.Context, tx pgx.Tx, batch []eventstore.Record) error
}

// Pipeliner is implemented by a State that can fold a batch while the batch
// before it is being written. Build uses it: it folds batch N+1 (Fold, with a
// read-only transaction of its own) while batch N's Writes commit on another
// connection, then writes N+1 once N committed; at most one batch is in
// flight. Fold must read through tx only what committed batches wrote, and
// take what the batch before changed from itself (its writes may not have
// committed yet), never from the tables. After any error the State is
// discarded, as with Apply; a State mixes Fold and Apply only after every
// Writes returned by Fold was written.
type Pipeliner interface {
	Fold(ctx context.Context, tx pgx.Tx, batch []eventstore.Record) (Writes, error)
}

// Writes are the changes of a batch folded by a Pipeliner.
type Writes interface {
	// Write writes them through tx (search_path set to the build's schema).
	Write(ctx context.Context, tx pgx.Tx) error
}

// Streamer is implemented by a State with rows that nothing reads while the
// log is folded (an append-only table): during Build, whose schema is dropped
// when the build fails, they need not commit with their batch, so Build gives
// them a transaction of their own on another connection, and Postgres takes
// them in while the batches are read, folded and written. Build calls
// StartStream with that transaction (search_path set to the build's schema)
// before the first batch, and EndStream after the last one, with the error
// the build failed with (nil when it did not); it commits the transaction only
// when EndStream returns nil. Between the two, Apply sends those rows there
// instead of through the batch's transaction; after EndStream, through the
// batch's again. The stream holds one more connection of the pool for the
// whole build.
type Streamer interface {
	StartStream(ctx context.Context, tx pgx.Tx)
	EndStream(err error) error
}

// EventError reports a record that a projection cannot apply. The runner
// stops at it and never skips it by itself: only a skip fact in the log
// (see Skips) lets it pass.
type EventError struct {
	Position int64
	Type     string
	// EventID is the record's id (the runner fills it in when empty).
	EventID string
	Err     error
}

func (e *EventError) Error() string {
	return fmt.Sprintf("projection: event %d (%s): %v", e.Position, e.Type, e.Err)
}

// Unwrap returns the cause.
func (e *EventError) Unwrap() error { return e.Err }

// Log is what the runner needs from the event store.
type Log interface {
	eventstore.Reader
	eventstore.Follower
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,30}$`)

func checkName(p Projection) error {
	if !nameRE.MatchString(p.Name()) {
		return fmt.Errorf("projection: invalid name %q", p.Name())
	}
	return nil
}

// Schema returns the live schema of the projection named name.
func Schema(name string) string { return "proj_" + name }

// setSearchPath makes unqualified names in tx resolve to schema.
func setSearchPath(ctx context.Context, tx pgx.Tx, schema string) error {
	if _, err := tx.Exec(ctx, "SELECT set_config('search_path', $1, true)", pgx.Identifier{schema}.Sanitize()+", public"); err != nil {
		return fmt.Errorf("set search_path %s: %w", schema, err)
	}
	return nil
}

// Decode turns a stored record into a domain envelope; a record the domain
// cannot decode is an *EventError, so the runner stops at it.
func Decode(r eventstore.Record) (domain.Envelope, error) {
	ev, err := domain.Decode(r.Type, r.SchemaVersion, r.Data)
	if err != nil {
		return domain.Envelope{}, &EventError{Position: r.Position, Type: r.Type, Err: err}
	}
	return domain.Envelope{Position: r.Position, EventID: r.ID.String(), StreamID: r.StreamID, StreamVersion: r.StreamVersion,
		Type: r.Type, OccurredAt: r.OccurredAt, RecordedAt: r.RecordedAt, Event: ev}, nil
}
