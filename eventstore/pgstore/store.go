// Package pgstore is the Postgres event log of record: an append-only
// events table with gap-free, commit-ordered positions, idempotent appends,
// expected-version checks and a SHA-256 hash chain.
//
// All appends of a Store go through one group-commit writer that batches
// concurrent requests into one transaction under a Postgres advisory lock,
// so several processes (or pools) appending to the same database stay
// ordered and a reader asking for everything after position P never misses
// an event that commits later with a smaller position. The writer is a
// goroutine; an append made while no other is in progress writes its batch
// itself, under the same mutex, so a lone appender pays no hand-off.
package pgstore

import (
	"context"
	"dealcredit/internal/prom"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/eventstore"
	"dealcredit/internal/pgdb"
)

// NotifyChannel is the LISTEN/NOTIFY channel the writer notifies on commit;
// the payload is the new head position in decimal.
const NotifyChannel = "dealcredit_events"

// appendLockID is the advisory lock every writer of the events table holds
// for the length of its transaction.
var appendLockID = pgdb.LockID("dealcredit.eventstore.append")

// Options configures a Store. The zero value is usable.
type Options struct {
	// Logger receives operational warnings; nil discards them.
	Logger *slog.Logger
	// Registerer receives the store's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// MaxBatch caps the events written per transaction (default 4096). A
	// single request larger than MaxBatch is written alone.
	MaxBatch int
	// Now is the clock for recorded_at (default time.Now).
	Now func() time.Time
	// RecheckInterval is how often WaitFor re-reads the head when no
	// notification arrives (default 1 s).
	RecheckInterval time.Duration
	// Fence, when set, is asked for the mirror's head before the first
	// append and whenever the pool's connections reach another database
	// server (a failover): the writer refuses to append (an
	// *eventstore.FencedError) while the mirror holds positions the log
	// lacks or disagrees with the log. Nil appends unchecked.
	Fence eventstore.Fence
	// FenceInterval is how often an idle writer re-identifies the server
	// and a fenced writer asks the mirror again (default
	// DefaultFenceInterval).
	FenceInterval time.Duration
}

// Store is the Postgres event log. It implements eventstore.Store. It is
// safe for concurrent use; Close flushes pending appends.
type Store struct {
	pool    *pgxpool.Pool
	log     *slog.Logger
	now     func() time.Time
	max     int
	recheck time.Duration
	m       *metrics

	mu     sync.RWMutex // guards closed against sends on jobs
	closed bool
	jobs   chan *job
	done   chan struct{} // closed when the writer exits

	// writing is held while a batch is written, by the writer goroutine or
	// by a lone appender (see writeAlone); it guards cache, fc's writer
	// state and the writer's settings below.
	writing sync.Mutex
	active  atomic.Int32 // appends in progress (in submit)

	ctx    context.Context // cancelled by Close, ends the listener
	cancel context.CancelFunc

	follow follower
	cache  headCache // the writer's view of the log, see fastBatch
	fc     fencer    // see guard
	// implicitRC remembers, per connection, whether its implicit
	// transactions are read committed (see implicitReadCommitted).
	implicitRC map[connKey]bool

	beforeCommit func() // test hook, see export_test.go
	fastSkip     int    // batches on the slow path after a fast-path miss
	copyMin      int    // records from which a batch is written with COPY
}

var _ eventstore.Store = (*Store)(nil)

// New returns a Store appending to and reading from the migrated database
// behind pool, and starts its writer. The caller keeps ownership of pool and
// closes it after Close.
func New(pool *pgxpool.Pool, opts Options) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgstore: nil pool")
	}
	if opts.MaxBatch < 0 {
		return nil, fmt.Errorf("pgstore: negative MaxBatch %d", opts.MaxBatch)
	}
	if opts.MaxBatch == 0 {
		opts.MaxBatch = 4096
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RecheckInterval <= 0 {
		opts.RecheckInterval = time.Second
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		pool:    pool,
		log:     opts.Logger,
		now:     opts.Now,
		max:     opts.MaxBatch,
		recheck: opts.RecheckInterval,
		m:       m,
		jobs:    make(chan *job, 1024),
		done:    make(chan struct{}),
		ctx:     ctx,
		cancel:  cancel,
	}
	s.implicitRC = make(map[connKey]bool)
	s.fastSkip = fastSkipAfterMiss
	s.copyMin = copyMinRecords
	if opts.FenceInterval <= 0 {
		opts.FenceInterval = DefaultFenceInterval
	}
	s.fc = fencer{fence: opts.Fence, every: opts.FenceInterval, seen: make(map[connKey]string), changed: make(chan struct{}, 1)}
	if opts.Fence != nil {
		s.fc.err.Store(notChecked)
		m.fenced.Set(1)
	}
	s.follow.init()
	go s.writeLoop()
	return s, nil
}

// Close stops accepting appends, waits for the pending ones to commit or
// fail, and stops the follower connection. It does not close the pool.
func (s *Store) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.jobs)
	}
	s.mu.Unlock()
	<-s.done
	s.cancel()
	s.follow.wait()
}

type metrics struct {
	duration  prometheus.Histogram
	txTime    prometheus.Histogram
	batchSize prometheus.Histogram
	appended  *prometheus.CounterVec
	fastPath  *prometheus.CounterVec
	fenced    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dealcredit_eventstore_append_duration_seconds",
			Help:    "Time from an append call to its answer (queueing, transaction and commit).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		txTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dealcredit_eventstore_append_transaction_seconds",
			Help: "Time the writer spends on one append transaction, from taking a connection to the answer to its commit. " +
				"The rate of its sum is the share of time the writer is busy (1: saturated; appends then wait in its queue).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dealcredit_eventstore_append_batch_size",
			Help:    "Events written per append transaction (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 13),
		}),
		appended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dealcredit_eventstore_events_appended_total",
			Help: "Events committed to the log, by event type.",
		}, []string{"type"}),
		fastPath: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dealcredit_eventstore_append_fast_path_total",
			Help: "Append transactions by path: hit (one round trip), miss (the fast path's assumptions were wrong, retried on the slow path), slow (read the log first).",
		}, []string{"outcome"}),
		fenced: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dealcredit_log_fenced",
			Help: "1 while the writer refuses to append because the log and its JetStream mirror disagree (or the mirror could not be checked after a database failover); see dealcredit recover --from-mirror.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.duration, err = prom.Register(reg, m.duration); err != nil {
		return nil, err
	}
	if m.txTime, err = prom.Register(reg, m.txTime); err != nil {
		return nil, err
	}
	if m.batchSize, err = prom.Register(reg, m.batchSize); err != nil {
		return nil, err
	}
	if m.appended, err = prom.Register(reg, m.appended); err != nil {
		return nil, err
	}
	if m.fastPath, err = prom.Register(reg, m.fastPath); err != nil {
		return nil, err
	}
	if m.fenced, err = prom.Register(reg, m.fenced); err != nil {
		return nil, err
	}
	return m, nil
}
