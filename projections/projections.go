// Package projections wires dealcredit's read models to the runner: it runs
// every projection against the log, and rebuilds, verifies or replays them
// by name for the daemon, the CLI and the admin API.
package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"dealcredit/domain"
	"dealcredit/eventstore"
	"dealcredit/projections/attribution"
	"dealcredit/projections/leads"
	"dealcredit/projections/runner"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// All returns every projection of dealcredit, sorted by name.
func All() []runner.Projection {
	return []runner.Projection{attribution.New(), leads.New()}
}

// Manager runs and maintains a set of projections.
type Manager struct {
	pool  *pgxpool.Pool
	log   runner.Log
	projs map[string]runner.Projection
	opts  runner.Options

	mu      sync.Mutex
	runners []*runner.Runner
}

// NewManager returns a manager of projs (All() when none), reading log and
// writing through pool. logger and reg may be nil.
func NewManager(pool *pgxpool.Pool, log runner.Log, logger *slog.Logger, reg prometheus.Registerer, projs ...runner.Projection) *Manager {
	if len(projs) == 0 {
		projs = All()
	}
	m := &Manager{pool: pool, log: log, projs: map[string]runner.Projection{},
		opts: runner.Options{Logger: logger, Registerer: reg}}
	for _, p := range projs {
		m.projs[p.Name()] = p
	}
	return m
}

// Names returns the projection names, sorted.
func (m *Manager) Names() []string {
	out := make([]string, 0, len(m.projs))
	for n := range m.projs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (m *Manager) get(name string) (runner.Projection, error) {
	p, ok := m.projs[name]
	if !ok {
		return nil, fmt.Errorf("projections: unknown projection %q (known: %v)", name, m.Names())
	}
	return p, nil
}

// Run runs one runner per projection until ctx ends. A projection that
// stops on an event stays stopped (see Status) while the others go on; Run
// returns the joined event errors after ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(m.projs))
	for i, name := range m.Names() {
		r, err := runner.New(m.pool, m.log, m.projs[name], m.opts)
		if err != nil {
			return err
		}
		m.mu.Lock()
		m.runners = append(m.runners, r)
		m.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.Run(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Status returns the status of every running projection, for /readyz.
func (m *Manager) Status() []runner.Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]runner.Status, 0, len(m.runners))
	for _, r := range m.runners {
		out = append(out, r.Status())
	}
	return out
}

// Rebuild rebuilds the projection named name beside the live one and swaps
// it in atomically; progress (may be nil) gets the position and the head.
func (m *Manager) Rebuild(ctx context.Context, name string, progress func(pos, head int64)) error {
	p, err := m.get(name)
	if err != nil {
		return err
	}
	return runner.Rebuild(ctx, m.pool, m.log, p, 0, progress)
}

// Verify rebuilds every projection into scratch tables and compares them
// with the live ones; progress (may be nil) gets the projection's name, the
// position reached and the position its rebuild runs to.
func (m *Manager) Verify(ctx context.Context, progress func(name string, pos, total int64)) (runner.Report, error) {
	var ps []runner.Projection
	for _, n := range m.Names() {
		ps = append(ps, m.projs[n])
	}
	return runner.VerifyProgress(ctx, m.pool, m.log, 0, progress, ps...)
}

// SkipRequest asks that a stopped projection pass over the event it stopped at.
type SkipRequest struct {
	Projection string
	Position   int64
	Reason     string // why, for the auditors: required
	Actor      string // who: required
	Source     string // where the request came from, e.g. "cli"
}

// Skip appends the audited fact that the projection named req.Projection
// passes over the event at req.Position (domain.ProjectionEventSkipped, on
// its stream domain.ProjectionStream), and returns the stored record. The
// projection must be stopped at exactly that event (its checkpoint row says
// so): an event a projection applies cannot be skipped by mistake. Its
// runners, in every process, pick the fact up and go on; rebuilds, verify
// and replays leave the event out too.
func Skip(ctx context.Context, pool *pgxpool.Pool, log eventstore.Store, req SkipRequest, now time.Time) (eventstore.Record, error) {
	if _, err := NewManager(pool, log, nil, nil).get(req.Projection); err != nil {
		return eventstore.Record{}, err
	}
	if strings.TrimSpace(req.Reason) == "" {
		return eventstore.Record{}, errors.New("projections: skip: a reason is required")
	}
	if strings.TrimSpace(req.Actor) == "" {
		return eventstore.Record{}, errors.New("projections: skip: an actor is required")
	}
	cp, err := runner.ReadCheckpoint(ctx, pool, req.Projection)
	if err != nil {
		return eventstore.Record{}, err
	}
	if cp.Status != runner.StateFailed || cp.FailedPosition != req.Position {
		return eventstore.Record{}, fmt.Errorf("projections: skip: projection %s is not stopped at position %d (status %s, checkpoint %d, stopped at %d)",
			req.Projection, req.Position, cp.Status, cp.Position, cp.FailedPosition)
	}
	recs, err := log.ReadAll(ctx, req.Position-1, 1)
	if err != nil {
		return eventstore.Record{}, fmt.Errorf("projections: skip: read position %d: %w", req.Position, err)
	}
	if len(recs) != 1 || recs[0].Position != req.Position {
		return eventstore.Record{}, fmt.Errorf("projections: skip: no event at position %d", req.Position)
	}
	ev := domain.ProjectionEventSkipped{Projection: req.Projection, Position: req.Position, EventID: recs[0].ID.String(),
		Type: recs[0].Type, Reason: req.Reason, Actor: req.Actor, SkippedAt: now.UTC()}
	typ, ver, data, err := domain.Encode(ev)
	if err != nil {
		return eventstore.Record{}, err
	}
	res, err := log.Append(ctx, domain.StreamOf(ev), eventstore.Any, eventstore.Event{
		ID: uuid.New(), Type: typ, SchemaVersion: ver, Data: data, OccurredAt: now.UTC(),
		Metadata: eventstore.Metadata{Actor: req.Actor, Source: req.Source},
	})
	if err != nil {
		return eventstore.Record{}, fmt.Errorf("projections: skip: append: %w", err)
	}
	return res.Records[0], nil
}
