package runner

import (
	"context"
	"dealcredit/internal/prom"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"dealcredit/eventstore"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Runner. The zero value is usable.
type Options struct {
	// BatchSize is the number of records per transaction (DefaultBatchSize when 0).
	BatchSize int
	// Logger receives state changes (discarded when nil).
	Logger *slog.Logger
	// Registerer receives the lag and position gauges (none when nil).
	Registerer prometheus.Registerer
	// Now is the clock for lag in seconds (time.Now when nil).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Runner states reported in Status.State.
const (
	StateStarting   = "starting"
	StateCatchingUp = "catching_up"
	StateLive       = "live"
	StateRetrying   = "retrying"
	StateFailed     = "failed"
	StateStopped    = "stopped"
)

// Status is a runner's view of its projection, for /readyz detail.
type Status struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Position int64  `json:"position"`
	Head     int64  `json:"head"`
	// Error, FailedPosition and FailedType describe the event the
	// projection stopped at (State == StateFailed) or the last transient
	// error (State == StateRetrying).
	Error          string `json:"error,omitempty"`
	FailedPosition int64  `json:"failed_position,omitempty"`
	FailedType     string `json:"failed_type,omitempty"`
}

// Ready reports whether the projection is following the log without error.
func (s Status) Ready() bool { return s.State == StateLive || s.State == StateCatchingUp }

// Runner keeps one projection up to date with the log.
type Runner struct {
	pool *pgxpool.Pool
	log  Log
	proj Projection
	opts Options
	m    *metrics

	mu     sync.Mutex
	status Status
	// following is set once the runner reached live after a start or a
	// retry; from then on it moves between live and catching_up with every
	// burst of events, and those moves are not logged.
	following bool
}

// New returns a runner for p. It does not touch the database until Run.
func New(pool *pgxpool.Pool, log Log, p Projection, opts Options) (*Runner, error) {
	if err := checkName(p); err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &Runner{
		pool: pool, log: log, proj: p, opts: opts.withDefaults(), m: m,
		status: Status{Name: p.Name(), State: StateStarting},
	}, nil
}

// Status returns the runner's current status.
func (r *Runner) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// setStatus applies f and logs the state when it changed, except the moves
// between live and catching_up of a runner that is following the log.
func (r *Runner) setStatus(f func(*Status)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := r.status.State
	f(&r.status)
	st := r.status.State
	if st == prev {
		return
	}
	switch {
	case st != StateLive && st != StateCatchingUp:
		r.following = false
	case r.following:
		return
	case st == StateLive:
		r.following = true
	}
	attrs := []any{"projection", r.proj.Name(), "state", st, "position", r.status.Position}
	if st == StateCatchingUp {
		attrs = append(attrs, "head", r.status.Head)
	}
	if r.status.Error != "" {
		attrs = append(attrs, "error", r.status.Error)
	}
	r.opts.Logger.Info("projection state", attrs...)
}

// Run catches the projection up with the log and follows it until ctx ends
// (returning nil) or an event cannot be applied (returning its
// *EventError). After an event error the checkpoint stands just before the
// failing event and the runner stays stopped: it never skips an event and
// never retries it by itself. Transient errors (database, log) are retried
// with backoff.
func (r *Runner) Run(ctx context.Context) error {
	err := r.run(ctx)
	if ctx.Err() != nil && !errors.As(err, new(*EventError)) {
		r.setStatus(func(s *Status) { s.State = StateStopped })
		return nil
	}
	return err
}

func (r *Runner) run(ctx context.Context) error {
	name := r.proj.Name()
	backoff := newBackoff()
	for {
		err := r.prepare(ctx)
		if err == nil {
			break
		}
		if err := r.retry(ctx, backoff, err); err != nil {
			return err
		}
	}

	var (
		state   State
		local   int64
		stopAt  int64 // position of an event known to fail; 0 = none
		failure *EventError
	)
	reset := func() { state, local = nil, 0 }
	var err error

	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if state == nil {
			if state, local, err = r.load(ctx); err != nil {
				reset()
				if err := r.retry(ctx, backoff, err); err != nil {
					return err
				}
				continue
			}
		}
		// Read the next batch, up to (not including) a known bad event.
		limit := Limit{}
		if stopAt > 0 {
			limit.Position = stopAt - 1
		}
		n := r.opts.BatchSize
		if stopAt > 0 && stopAt-1-local < int64(n) {
			n = int(stopAt - 1 - local)
		}
		var batch []eventstore.Record
		if n > 0 {
			var err error
			batch, err = r.log.ReadAll(ctx, local, n)
			if err != nil {
				if err := r.retry(ctx, backoff, fmt.Errorf("read log: %w", err)); err != nil {
					return err
				}
				continue
			}
		}
		if stopAt > 0 && len(batch) == 0 {
			ee := failure
			if err := writeFailure(context.WithoutCancel(ctx), r.pool, name, ee); err != nil {
				r.opts.Logger.Error("projection failure not recorded", "projection", name, "error", err)
			}
			r.setStatus(func(s *Status) {
				s.State, s.Position = StateFailed, local
				s.Error, s.FailedPosition, s.FailedType = ee.Error(), ee.Position, ee.Type
			})
			return ee
		}
		if len(batch) == 0 {
			r.setStatus(func(s *Status) { s.State, s.Position, s.Head, s.Error = StateLive, local, local, "" })
			r.m.observe(name, local, local, 0)
			if _, err := r.log.WaitFor(ctx, local); err != nil {
				if err := r.retry(ctx, backoff, fmt.Errorf("wait for log: %w", err)); err != nil {
					return err
				}
			}
			continue
		}

		resync, err := r.applyBatch(ctx, state, local, batch)
		var ee *EventError
		switch {
		case err == nil && resync >= 0:
			// Someone else (another process, a rebuild swap) moved the
			// checkpoint: load the state it stands for.
			reset()
		case err == nil:
			local = batch[len(batch)-1].Position
			backoff.reset()
			head, herr := r.log.Head(ctx)
			if herr != nil || head < local {
				head = local
			}
			lagSec := 0.0
			st := StateLive
			if head > local {
				st = StateCatchingUp
				lagSec = r.opts.Now().Sub(batch[len(batch)-1].RecordedAt).Seconds()
			}
			r.setStatus(func(s *Status) { s.State, s.Position, s.Head, s.Error = st, local, head, "" })
			r.m.observe(name, local, head, lagSec)
		case errors.As(err, &ee):
			// The state has folded part of the batch: rebuild it and commit
			// everything before the bad event, then stop there.
			stopAt, failure = ee.Position, ee
			reset()
		default:
			reset()
			if err := r.retry(ctx, backoff, err); err != nil {
				return err
			}
		}
	}
}

// prepare creates the projection's tables if they are missing and rebuilds
// them if they are from another version of the projection.
func (r *Runner) prepare(ctx context.Context) error {
	if err := Ensure(ctx, r.pool, r.proj); err != nil {
		return err
	}
	cp, err := ReadCheckpoint(ctx, r.pool, r.proj.Name())
	if err != nil || cp.Version == r.proj.Version() {
		return err
	}
	r.opts.Logger.Info("projection tables from another version: rebuilding", "projection", r.proj.Name(),
		"tables_version", cp.Version, "version", r.proj.Version())
	r.setStatus(func(s *Status) {
		s.State = StateCatchingUp
		s.Error = fmt.Sprintf("rebuilding: the tables are version %d, this build needs %d", cp.Version, r.proj.Version())
	})
	return Rebuild(ctx, r.pool, r.log, r.proj, r.opts.BatchSize, nil)
}

// retry reports err and waits out the backoff; it returns the error that
// ends the run when ctx is done.
func (r *Runner) retry(ctx context.Context, b *backoff, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.retrying(err)
	return b.wait(ctx)
}

// load reads the checkpoint and the projection's state, holding the
// checkpoint row so that no other runner or rebuild commits in between.
func (r *Runner) load(ctx context.Context) (State, int64, error) {
	name := r.proj.Name()
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("projection %s: begin: %w", name, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var pos int64
	err = tx.QueryRow(ctx, "SELECT position FROM projection_checkpoints WHERE name = $1 FOR SHARE", name).Scan(&pos)
	if err != nil {
		return nil, 0, fmt.Errorf("projection %s: read checkpoint: %w", name, err)
	}
	if err := setSearchPath(ctx, tx, Schema(name)); err != nil {
		return nil, 0, err
	}
	state, err := r.proj.LoadState(ctx, tx)
	if err != nil {
		return nil, 0, fmt.Errorf("projection %s: load state at %d: %w", name, pos, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, 0, fmt.Errorf("projection %s: load state: %w", name, err)
	}
	return state, pos, nil
}

// applyBatch applies batch in one transaction with the checkpoint. When the
// stored checkpoint is not local it changes nothing and returns the stored
// position (resync >= 0); otherwise resync is -1.
func (r *Runner) applyBatch(ctx context.Context, state State, local int64, batch []eventstore.Record) (resync int64, err error) {
	name := r.proj.Name()
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return -1, fmt.Errorf("projection %s: begin: %w", name, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	cp, err := lockCheckpoint(ctx, tx, name)
	if err != nil {
		return -1, err
	}
	if cp != local {
		return cp, nil
	}
	if err := setSearchPath(ctx, tx, Schema(name)); err != nil {
		return -1, err
	}
	if err := state.Apply(ctx, tx, batch); err != nil {
		var ee *EventError
		if errors.As(err, &ee) {
			return -1, ee
		}
		return -1, fmt.Errorf("projection %s: apply %d..%d: %w", name, batch[0].Position, batch[len(batch)-1].Position, err)
	}
	if err := writeCheckpoint(ctx, tx, name, batch[len(batch)-1].Position); err != nil {
		return -1, err
	}
	if err := tx.Commit(ctx); err != nil {
		return -1, fmt.Errorf("projection %s: commit: %w", name, err)
	}
	return -1, nil
}

func (r *Runner) retrying(err error) {
	r.opts.Logger.Warn("projection retrying", "projection", r.proj.Name(), "error", err)
	r.setStatus(func(s *Status) { s.State, s.Error = StateRetrying, err.Error() })
}

type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 100 * time.Millisecond} }

func (b *backoff) reset() { b.d = 100 * time.Millisecond }

func (b *backoff) wait(ctx context.Context) error {
	t := time.NewTimer(b.d)
	defer t.Stop()
	if b.d < 10*time.Second {
		b.d *= 2
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type metrics struct {
	lagEvents, lagSeconds, position *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		lagEvents: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dealcredit_projection_lag_events", Help: "Events committed to the log but not yet applied by the projection.",
		}, []string{"projection"}),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dealcredit_projection_lag_seconds", Help: "Age of the last applied event while the projection is behind the head; 0 when caught up.",
		}, []string{"projection"}),
		position: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dealcredit_projection_position", Help: "Log position the projection's tables reflect.",
		}, []string{"projection"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, g := range []**prometheus.GaugeVec{&m.lagEvents, &m.lagSeconds, &m.position} {
		var err error
		if *g, err = prom.Register(reg, *g); err != nil {
			return nil, fmt.Errorf("projection: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observe(name string, pos, head int64, lagSeconds float64) {
	m.position.WithLabelValues(name).Set(float64(pos))
	m.lagEvents.WithLabelValues(name).Set(float64(head - pos))
	m.lagSeconds.WithLabelValues(name).Set(lagSeconds)
}
