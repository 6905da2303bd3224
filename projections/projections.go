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
	"sync"

	"dealcredit/projections/attribution"
	"dealcredit/projections/leads"
	"dealcredit/projections/runner"

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
