package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/eventstore"
	"dealcredit/internal/backoff"
	"dealcredit/internal/prom"
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
	// LagInterval is how often the lag gauges are refreshed from the log's
	// head, and how often a stopped runner looks for a skip fact (1s when 0).
	LagInterval time.Duration
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
	if o.LagInterval <= 0 {
		o.LagInterval = time.Second
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
	// Error, FailedPosition, FailedType and FailedEventID describe the event the
	// projection stopped at (State == StateFailed) or the last transient
	// error (State == StateRetrying).
	Error          string `json:"error,omitempty"`
	FailedPosition int64  `json:"failed_position,omitempty"`
	FailedType     string `json:"failed_type,omitempty"`
	FailedEventID  string `json:"failed_event_id,omitempty"`
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
	m.setStopped(p.Name(), 0)
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

// Run catches the projection up with the log and follows it until ctx ends.
// A record the projection cannot apply (an *EventError, or a batch failing
// with an error that retrying cannot fix, narrowed down to its record)
// stops this projection only: the checkpoint stands just before the record,
// the status, the checkpoint row and the metrics name it, and the runner
// waits, without retrying the record, until a skip fact for it appears in
// the log (see Skips), then goes on. Transient errors (database, log) are
// retried with backoff. Run returns nil when ctx ends, or the *EventError
// it was stopped at.
func (r *Runner) Run(ctx context.Context) error {
	lctx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan struct{})
	go func() { defer close(lagDone); r.followLag(lctx) }()
	defer func() { stopLag(); <-lagDone }()
	err := r.run(ctx)
	if ctx.Err() != nil && !errors.As(err, new(*EventError)) {
		r.setStatus(func(s *Status) { s.State = StateStopped })
		return nil
	}
	return err
}

func (r *Runner) run(ctx context.Context) error {
	name := r.proj.Name()
	// 100 ms after the first failure, doubling up to 10 s.
	retries := &backoff.Backoff{Min: 100 * time.Millisecond, Max: 10 * time.Second}
	for {
		err := r.prepare(ctx)
		if err == nil {
			break
		}
		if err := r.retry(ctx, retries, err); err != nil {
			return err
		}
	}

	var (
		state   State
		skips   Skips
		local   int64
		stopAt  int64 // position of an event known to fail; 0 = none
		failure *EventError
		narrow  narrowing
	)
	reset := func() { state, local = nil, 0 }
	var err error

	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if state == nil {
			if state, local, skips, err = r.load(ctx); err != nil {
				reset()
				if err := r.retry(ctx, retries, err); err != nil {
					return err
				}
				continue
			}
			if failure != nil && skips[failure.Position] == failure.EventID {
				stopAt, failure = 0, nil
			}
		}
		// Read the next batch, up to (not including) a known bad event.
		n := narrow.size(local, r.opts.BatchSize)
		if stopAt > 0 && stopAt-1-local < int64(n) {
			n = int(stopAt - 1 - local)
		}
		var batch []eventstore.Record
		if n > 0 {
			var err error
			batch, err = r.log.ReadAll(ctx, local, n)
			if err != nil {
				if err := r.retry(ctx, retries, fmt.Errorf("read log: %w", err)); err != nil {
					return err
				}
				continue
			}
		}
		if stopAt > 0 && len(batch) == 0 {
			if err := r.stopped(ctx, failure, local); err != nil {
				return err
			}
			stopAt, failure = 0, nil
			reset()
			continue
		}
		if len(batch) == 0 {
			r.setStatus(func(s *Status) { s.State, s.Position, s.Head, s.Error = StateLive, local, local, "" })
			r.m.observe(name, local, local, 0)
			if _, err := r.log.WaitFor(ctx, local); err != nil {
				if err := r.retry(ctx, retries, fmt.Errorf("wait for log: %w", err)); err != nil {
					return err
				}
			}
			continue
		}

		resync, err := r.applyBatch(ctx, state, local, batch)
		switch {
		case err == nil && resync >= 0:
			// Someone else (another process, a rebuild swap) moved the
			// checkpoint: load the state it stands for.
			reset()
		case err == nil:
			local = batch[len(batch)-1].Position
			retries.Reset()
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
		default:
			// The state has folded part of the batch: rebuild it either way.
			reset()
			ee, nw := r.blame(err, batch, skips)
			switch {
			case ee != nil:
				// Commit everything before the bad event, then stop there
				// (unless a skip fact for it is in the log: the reload finds it).
				stopAt, failure = ee.Position, ee
			case nw.batch > 0:
				narrow = nw
			default:
				if err := r.retry(ctx, retries, err); err != nil {
					return err
				}
			}
		}
	}
}

// blame says what the failure err of batch means: the event the projection
// cannot apply (an *EventError, or the one record left of a batch the
// database refuses for good), a narrower batch size to find that record
// with, or neither (a transient error, to retry).
func (r *Runner) blame(err error, batch []eventstore.Record, skips Skips) (*EventError, narrowing) {
	var ee *EventError
	if errors.As(err, &ee) {
		if ee.EventID == "" {
			ee.EventID = eventID(batch, ee.Position)
		}
		return ee, narrowing{}
	}
	if !permanent(err) {
		return nil, narrowing{}
	}
	todo := skips.filter(batch)
	if len(todo) == 1 {
		rec := todo[0]
		return &EventError{Position: rec.Position, Type: rec.Type, EventID: rec.ID.String(), Err: err}, narrowing{}
	}
	r.opts.Logger.Warn("projection batch cannot be applied: narrowing it down to the event", "projection", r.proj.Name(),
		"from", batch[0].Position, "to", batch[len(batch)-1].Position, "error", err)
	return nil, narrowing{batch: max(len(todo)/2, 1), end: batch[len(batch)-1].Position}
}

// narrowing bounds the batch size while the runner looks for the record of
// a batch that failed as a whole (up to position end).
type narrowing struct {
	batch int
	end   int64
}

// size is the batch size to read after position local.
func (n *narrowing) size(local int64, def int) int {
	if n.batch == 0 || local >= n.end {
		*n = narrowing{}
		return def
	}
	return n.batch
}

func eventID(batch []eventstore.Record, pos int64) string {
	for _, rec := range batch {
		if rec.Position == pos {
			return rec.ID.String()
		}
	}
	return ""
}

// stopped records that the projection stopped at ee (its checkpoint at
// local) and waits until a skip fact for that event is in the log (nil) or
// ctx ends (ee). It checks once per LagInterval: a stopped projection never
// spins.
func (r *Runner) stopped(ctx context.Context, ee *EventError, local int64) error {
	name := r.proj.Name()
	if err := writeFailure(context.WithoutCancel(ctx), r.pool, name, ee); err != nil {
		r.opts.Logger.Error("projection failure not recorded", "projection", name, "error", err)
	}
	r.setStatus(func(s *Status) {
		s.State, s.Position = StateFailed, local
		s.Error, s.FailedPosition, s.FailedType, s.FailedEventID = ee.Error(), ee.Position, ee.Type, ee.EventID
	})
	r.m.setStopped(name, ee.Position)
	r.opts.Logger.Error("projection stopped at an event it cannot apply; the other projections go on",
		"projection", name, "position", ee.Position, "type", ee.Type, "event_id", ee.EventID, "error", ee.Err,
		"way_out", fmt.Sprintf("dealcredit projection skip --projection %s --position %d --reason ... --actor ...", name, ee.Position))
	t := time.NewTicker(r.opts.LagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ee
		case <-t.C:
		}
		skips, err := LoadSkips(ctx, r.log, name)
		if err != nil {
			r.opts.Logger.Warn("projection stopped: cannot read skip facts", "projection", name, "error", err)
			continue
		}
		if skips[ee.Position] == ee.EventID {
			r.opts.Logger.Info("projection resumes: the event it stopped at is skipped", "projection", name, "position", ee.Position)
			r.m.setStopped(name, 0)
			return nil
		}
	}
}

// followLag keeps the lag gauges current whatever the runner is doing
// (applying, retrying, stopped): every LagInterval it compares the log's
// head with the stored checkpoint, so the lag grows while the projection is
// stuck.
func (r *Runner) followLag(ctx context.Context) {
	t := time.NewTicker(r.opts.LagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := r.refreshLag(ctx); err != nil && ctx.Err() == nil {
			r.opts.Logger.Debug("projection lag not refreshed", "projection", r.proj.Name(), "error", err)
		}
	}
}

func (r *Runner) refreshLag(ctx context.Context) error {
	name := r.proj.Name()
	cp, err := ReadCheckpoint(ctx, r.pool, name)
	if err != nil {
		return err
	}
	head, err := r.log.Head(ctx)
	if err != nil {
		return err
	}
	lagSec := 0.0
	if head > cp.Position {
		next, err := r.log.ReadAll(ctx, cp.Position, 1)
		if err != nil {
			return err
		}
		if len(next) == 1 {
			lagSec = max(r.opts.Now().Sub(next[0].RecordedAt).Seconds(), 0)
		}
	}
	r.m.observe(name, cp.Position, max(head, cp.Position), lagSec)
	r.setStatus(func(s *Status) { s.Head = max(head, s.Position) })
	return nil
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
func (r *Runner) retry(ctx context.Context, b *backoff.Backoff, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.retrying(err)
	return b.Wait(ctx)
}

// load reads the checkpoint, the projection's state and its skip facts,
// holding the checkpoint row so that no other runner or rebuild commits in
// between. The state leaves the skipped events out.
func (r *Runner) load(ctx context.Context) (State, int64, Skips, error) {
	name := r.proj.Name()
	skips, err := LoadSkips(ctx, r.log, name)
	if err != nil {
		return nil, 0, nil, err
	}
	state, pos, err := r.loadState(ctx)
	if err != nil {
		return nil, 0, nil, err
	}
	return withSkips(state, skips), pos, skips, nil
}

func (r *Runner) loadState(ctx context.Context) (State, int64, error) {
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
	r.setStatus(func(s *Status) {
		s.State, s.Error = StateRetrying, err.Error()
		s.FailedPosition, s.FailedType, s.FailedEventID = 0, "", ""
	})
}

type metrics struct {
	lagEvents, lagSeconds, position, stopped, stoppedAt *prometheus.GaugeVec
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
		stopped: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dealcredit_projection_stopped", Help: "1 while the projection is stopped at an event it cannot apply, else 0.",
		}, []string{"projection"}),
		stoppedAt: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dealcredit_projection_stopped_position", Help: "Log position of the event the projection is stopped at; 0 when it is not stopped.",
		}, []string{"projection"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, g := range []**prometheus.GaugeVec{&m.lagEvents, &m.lagSeconds, &m.position, &m.stopped, &m.stoppedAt} {
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

// setStopped records the position a projection is stopped at (0: running).
func (m *metrics) setStopped(name string, pos int64) {
	m.stoppedAt.WithLabelValues(name).Set(float64(pos))
	if pos > 0 {
		m.stopped.WithLabelValues(name).Set(1)
	} else {
		m.stopped.WithLabelValues(name).Set(0)
	}
}
