package runner

import (
	"context"
	"errors"
	"fmt"

	"dealcredit/domain"
	"dealcredit/eventstore"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Skips are the events a projection passes over: position -> event id, from
// the projection.event_skipped facts of its stream (domain.ProjectionStream).
// Every fold of the projection (the live runner, Build, Rebuild, Verify and
// replays) leaves these events out, so they all agree.
type Skips map[int64]string

// LoadSkips reads the skip facts of the projection named name from the log.
func LoadSkips(ctx context.Context, log eventstore.Reader, name string) (Skips, error) {
	recs, err := log.ReadStream(ctx, domain.ProjectionStream(name), 0)
	if err != nil {
		return nil, fmt.Errorf("projection %s: read skipped events: %w", name, err)
	}
	out := Skips{}
	for _, r := range recs {
		ev, err := domain.Decode(r.Type, r.SchemaVersion, r.Data)
		if err != nil {
			return nil, fmt.Errorf("projection %s: skip fact at position %d: %w", name, r.Position, err)
		}
		if s, ok := ev.(domain.ProjectionEventSkipped); ok && s.Projection == name {
			out[s.Position] = s.EventID
		}
	}
	return out, nil
}

// Covers reports whether r is skipped: its position is named with its id.
func (s Skips) Covers(r eventstore.Record) bool {
	id, ok := s[r.Position]
	return ok && id == r.ID.String()
}

// filter returns batch without the skipped records (batch itself when none is).
func (s Skips) filter(batch []eventstore.Record) []eventstore.Record {
	if len(s) == 0 {
		return batch
	}
	var out []eventstore.Record
	for i, r := range batch {
		if !s.Covers(r) {
			if out != nil {
				out = append(out, r)
			}
			continue
		}
		if out == nil {
			out = append(make([]eventstore.Record, 0, len(batch)-1), batch[:i]...)
		}
	}
	if out == nil {
		return batch
	}
	return out
}

// skipping is a State that leaves the skipped records out of every batch.
type skipping struct {
	State
	skips Skips
}

func (s skipping) Apply(ctx context.Context, tx pgx.Tx, batch []eventstore.Record) error {
	batch = s.skips.filter(batch)
	if len(batch) == 0 {
		return nil
	}
	return s.State.Apply(ctx, tx, batch)
}

// withSkips wraps state so that it leaves skips out.
func withSkips(state State, skips Skips) State {
	if len(skips) == 0 {
		return state
	}
	return skipping{State: state, skips: skips}
}

// permanent reports whether err, from applying a batch, would happen again
// however often the batch is retried: the data cannot be stored (a Postgres
// data exception such as a NUL byte in text or a bigint overflow, class 22),
// breaks a constraint of the read model (class 23) or a limit (class 54,
// e.g. an index row too large). Anything else (a lost connection, a
// timeout, a serialization failure, a missing privilege) is transient and
// retried with backoff.
func permanent(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) < 2 {
		return false
	}
	switch pe.Code[:2] {
	case "22", "23", "54":
		return true
	}
	return false
}
