package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/api"
	"dealcredit/eventstore"
	"dealcredit/eventstore/pgstore"
	"dealcredit/projections"
	"dealcredit/projections/attribution"
	"dealcredit/projections/leads"
	"dealcredit/projections/runner"
)

// startProjections starts the projection runners (when enabled) and returns
// the read side for the API and the projections' readiness checks: one that
// holds readiness back only until every runner has started (created its
// tables), and an informational one that names a stopped or retrying
// projection without making the instance unready (docs/operations.md,
// "Stopped projections").
func startProjections(pool *pgxpool.Pool, store eventstore.Store, reg prometheus.Registerer, logger *slog.Logger,
	enabled bool, goRun func(string, func(context.Context) error)) (api.Queries, []api.Checker) {
	q := &queries{AttributionReader: attribution.NewReader(pool), SeatsReader: leads.NewReader(pool), pool: pool}
	if !enabled {
		return q, nil
	}
	m := projections.NewManager(pool, store, logger.With("component", "projections"), reg)
	goRun("projections", m.Run)
	started := func(context.Context) error {
		st := m.Status()
		if len(st) < len(m.Names()) {
			return errors.New("projection runners starting")
		}
		for _, s := range st {
			if s.State == runner.StateStarting {
				return fmt.Errorf("projection %s starting", s.Name)
			}
		}
		return nil
	}
	health := func(context.Context) error {
		var bad []string
		for _, s := range m.Status() {
			if !s.Ready() {
				bad = append(bad, statusDetail(s))
			}
		}
		if len(bad) > 0 {
			return errors.New(strings.Join(bad, "; "))
		}
		return nil
	}
	return q, []api.Checker{
		{Name: "projections started", Check: started},
		{Name: "projections", Check: health, Informational: true},
	}
}

// statusDetail describes a projection that is not following the log, for
// the /readyz body: "projection attribution stopped at position 23
// (deal.registered, event ...): reason".
func statusDetail(s runner.Status) string {
	if s.State == runner.StateFailed {
		return fmt.Sprintf("projection %s stopped at position %d (%s, event %s), %d events behind the head: %s",
			s.Name, s.FailedPosition, s.FailedType, s.FailedEventID, max(s.Head-s.Position, 0), s.Error)
	}
	detail := "projection " + s.Name + " " + s.State
	if s.Error != "" {
		detail += ": " + s.Error
	}
	return detail
}

// queries is the read side the API serves from: the projections' typed
// readers, and how far each projection is.
type queries struct {
	api.AttributionReader // *attribution.Reader
	api.SeatsReader       // *leads.Reader
	pool                  *pgxpool.Pool
}

var _ api.Queries = (*queries)(nil)

// ReadModel reads how far the projection name is from its checkpoint row
// and the log's head, both in one round trip (every query asks it).
func (q *queries) ReadModel(ctx context.Context, name string) (api.ReadModel, error) {
	var (
		cp   runner.Checkpoint
		head int64
		b    pgx.Batch
	)
	runner.QueueReadCheckpoint(&b, name, &cp)
	pgstore.QueueHead(&b, &head)
	if err := q.pool.SendBatch(ctx, &b).Close(); err != nil {
		return api.ReadModel{}, fmt.Errorf("read model %s: %w", name, err)
	}
	return api.ReadModelOf(name, runner.ReadState{Checkpoint: cp, Head: head}), nil
}
