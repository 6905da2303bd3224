package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/eventstore"
	"dealcredit/internal/backoff"
	"dealcredit/internal/prom"
)

// Source is what the relay reads: the log, in order, and a way to wait for
// new commits.
type Source interface {
	eventstore.Reader
	eventstore.Follower
}

// Atomic batch publish headers (nats-server >= 2.12).
const (
	headerBatchID     = "Nats-Batch-Id"
	headerBatchSeq    = "Nats-Batch-Sequence"
	headerBatchCommit = "Nats-Batch-Commit"
)

// maxAtomicBatch is the server's default cap on an atomic batch.
const maxAtomicBatch = 1000

// Advisory lock keys (the two-int4 key space, which does not overlap the
// single-bigint one) that make one relay at a time active across processes.
const (
	lockClass  int32 = 0x64637264 // "dcrd"
	lockObject int32 = 2          // the outbox relay
)

// RelayOptions configures a Relay. Zero values pick the defaults.
type RelayOptions struct {
	// Logger receives state changes and retried failures; nil discards.
	Logger *slog.Logger
	// Registerer registers the relay's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// BatchSize is how many records are read and published per round
	// trip; default 4000 (published as atomic batches of up to 1000).
	BatchSize int
	// Replicas is the DEALCREDIT_EVENTS replica count; default 1.
	Replicas int
	// AckTimeout bounds the wait for the acks of one batch; default 10s.
	AckTimeout time.Duration
	// StandbyPoll is how often a standby relay retries the lock; default 1s.
	StandbyPoll time.Duration
	// MaxBackoff caps the retry delay after a failure; default 5s.
	MaxBackoff time.Duration
	// LagInterval is how often an active relay re-reads the log's head for
	// the lag gauge whatever it is doing, so the gauge grows while the relay
	// is stuck (NATS down, publishes refused); default 1s.
	LagInterval time.Duration
	// PerMessage publishes each event with its own expected last sequence
	// instead of atomic batches. It is what the relay does anyway when the
	// stream does not allow atomic publish (nats-server < 2.12); it costs
	// one disk sync per event on a synced store.
	PerMessage bool
}

// Relay is the outbox relay: it copies the log, in order, into
// DEALCREDIT_EVENTS so that stream sequence == global position.
//
// Exactness does not rest on the lock: every message carries
// Nats-Expected-Last-Sequence = position-1, so the server stores the record
// of position p only as sequence p, and any failure is followed by a re-sync
// from the stream's actual last sequence. The advisory lock only keeps
// concurrent relays from wasting work on each other.
type Relay struct {
	src  Source
	pool *pgxpool.Pool
	js   jetstream.JetStream
	opts RelayOptions
	log  *slog.Logger

	lag       prometheus.Gauge
	published prometheus.Counter
	active    prometheus.Gauge

	// Used only by the goroutine in Run.
	atomic     bool                // the stream takes atomic batches
	prefetched []eventstore.Record // the next batch, read while waiting for acks
	lagAt      time.Time           // when the lag gauge was last set from Head
	lastHash   []byte              // hash of the mirror's message at mirrored
	// unconfirmed counts records this relay sent whose acks did not come
	// back (a timeout): the next sync finds the ones the stream stored, and
	// counts them as published.
	unconfirmed int64

	running  atomic.Bool
	isActive atomic.Bool
	mirrored atomic.Int64
	synced   atomic.Bool // mirrored was read from the stream at least once
}

// Status is a snapshot of a relay.
type Status struct {
	// Active is true while this relay holds the lock and copies.
	Active bool
	// Mirrored is the last position known to be in the mirror (meaningful
	// while Active).
	Mirrored int64
}

// NewRelay returns a relay reading src, locking through pool, publishing
// through js. The NATS connection behind js should reconnect forever
// (nats.MaxReconnects(-1)) so the relay survives NATS restarts.
func NewRelay(src Source, pool *pgxpool.Pool, js jetstream.JetStream, opts RelayOptions) (*Relay, error) {
	if src == nil || pool == nil || js == nil {
		return nil, errors.New("mirror: new relay: source, pool and jetstream are required")
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 4000
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = 10 * time.Second
	}
	if opts.StandbyPoll <= 0 {
		opts.StandbyPoll = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Second
	}
	if opts.LagInterval <= 0 {
		opts.LagInterval = time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r := &Relay{
		src: src, pool: pool, js: js, opts: opts, log: log.With("component", "relay"),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dealcredit_relay_lag_events",
			Help: "Events committed in the log but not yet in the DEALCREDIT_EVENTS mirror (as seen by the active relay).",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dealcredit_relay_published_total",
			Help: "Events published into the DEALCREDIT_EVENTS mirror and acknowledged.",
		}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dealcredit_relay_active",
			Help: "1 while this process's relay holds the relay lock, 0 on standby.",
		}),
	}
	if opts.Registerer != nil {
		var err error
		if r.lag, err = prom.Register(opts.Registerer, r.lag); err != nil {
			return nil, fmt.Errorf("mirror: register relay metrics: %w", err)
		}
		if r.published, err = prom.Register(opts.Registerer, r.published); err != nil {
			return nil, fmt.Errorf("mirror: register relay metrics: %w", err)
		}
		if r.active, err = prom.Register(opts.Registerer, r.active); err != nil {
			return nil, fmt.Errorf("mirror: register relay metrics: %w", err)
		}
	}
	return r, nil
}

// Status returns a snapshot of the relay.
func (r *Relay) Status() Status {
	return Status{Active: r.isActive.Load(), Mirrored: r.mirrored.Load()}
}

// Run copies the log into the mirror until ctx ends, then returns nil.
// Failures of Postgres or NATS are logged and retried with backoff; a relay
// that cannot get the lock waits on standby. Run returns an error only for
// a problem that retrying cannot fix (e.g. a NATS server older than 2.10).
// A Relay runs at most once at a time.
func (r *Relay) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("mirror: relay already running")
	}
	defer r.running.Store(false)
	lctx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan struct{})
	go func() { defer close(lagDone); r.followLag(lctx) }()
	defer func() { stopLag(); <-lagDone }()

	var (
		lk      *relayLock
		retries = backoff.Backoff{Min: 100 * time.Millisecond, Max: r.opts.MaxBackoff}
		stream  jetstream.Stream
	)
	defer func() {
		if lk != nil {
			lk.release()
		}
		r.setActive(false)
	}()
	fail := func(what string, err error) {
		delay := retries.Next()
		r.log.Warn("relay: "+what+" failed, retrying", "err", err, "backoff", delay)
		stream = nil // re-sync from the stream's last sequence
		// An error is ctx ending, which ends the loop.
		_ = backoff.Sleep(ctx, delay)
	}
	standbyLogged := false
	lastCheck := time.Time{}

	for ctx.Err() == nil {
		if lk == nil {
			if lk = r.acquire(ctx, fail, &standbyLogged); lk == nil {
				continue
			}
			lastCheck = time.Now()
			stream = nil
		}
		if time.Since(lastCheck) > time.Second {
			if err := lk.check(ctx); err != nil {
				lk.release()
				lk = nil
				r.setActive(false)
				if ctx.Err() == nil {
					fail("lock check", err)
				}
				continue
			}
			lastCheck = time.Now()
		}
		if stream == nil {
			s, head, err := r.sync(ctx)
			if err != nil {
				var perm *permanentError
				if errors.As(err, &perm) {
					return err
				}
				if ctx.Err() == nil {
					fail("sync", err)
				}
				continue
			}
			stream = s
			r.resume(s, head)
		}
		if err := r.step(ctx); err != nil {
			if ctx.Err() == nil {
				fail("copy", err)
			}
			continue
		}
		retries.Reset()
	}
	return nil
}

// acquire takes the relay lock and makes this relay the active one. It
// returns nil after waiting when another relay holds the lock (logged once
// per standby spell, tracked in standbyLogged) or after fail's backoff when
// taking it failed.
func (r *Relay) acquire(ctx context.Context, fail func(string, error), standbyLogged *bool) *relayLock {
	lk, err := acquireLock(ctx, r.pool)
	if err != nil {
		if ctx.Err() == nil {
			fail("lock", err)
		}
		return nil
	}
	if lk == nil {
		if !*standbyLogged {
			r.log.Info("relay: standby, another relay holds the lock")
			*standbyLogged = true
		}
		_ = backoff.Sleep(ctx, r.opts.StandbyPoll) // the caller's loop ends on ctx
		return nil
	}
	*standbyLogged = false
	r.setActive(true)
	r.log.Info("relay: active")
	return lk
}

// resume restarts copying after sync: from the mirror's head on stream s.
// Publishes that were unconfirmed before and are now stored are counted.
func (r *Relay) resume(s jetstream.Stream, head eventstore.MirrorHead) {
	r.prefetched = nil
	r.atomic = s.CachedInfo().Config.AllowAtomicPublish && !r.opts.PerMessage
	if stored := head.Position - r.mirrored.Load(); stored > 0 && r.unconfirmed > 0 {
		r.published.Add(float64(min(stored, r.unconfirmed)))
	}
	r.unconfirmed = 0
	r.mirrored.Store(head.Position)
	r.synced.Store(true)
	r.lastHash = head.Hash
	if head.Position == 0 {
		r.lastHash = eventstore.ZeroHash
	}
}

// sync provisions the stream and reads how far the mirror is and the hash
// its chain ends with.
func (r *Relay) sync(ctx context.Context) (jetstream.Stream, eventstore.MirrorHead, error) {
	var none eventstore.MirrorHead
	if err := checkServerVersion(r.js.Conn().ConnectedServerVersion()); err != nil && r.js.Conn().IsConnected() {
		return nil, none, &permanentError{err}
	}
	s, err := EnsureStream(ctx, r.js, r.opts.Replicas)
	if err != nil {
		return nil, none, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, none, fmt.Errorf("mirror: stream info: %w", err)
	}
	head, err := headOf(ctx, s, int64(info.State.LastSeq))
	if err != nil {
		return nil, none, err
	}
	return s, head, nil
}

// step copies one batch, or waits for new commits when caught up.
func (r *Relay) step(ctx context.Context) error {
	after := r.mirrored.Load()
	recs := r.prefetched
	r.prefetched = nil
	if len(recs) == 0 || recs[0].Position != after+1 {
		var err error
		recs, err = r.src.ReadAll(ctx, after, r.opts.BatchSize)
		if err != nil {
			return fmt.Errorf("mirror: read log after %d: %w", after, err)
		}
	}
	if len(recs) == 0 {
		head, err := r.src.Head(ctx)
		if err != nil {
			return fmt.Errorf("mirror: log head: %w", err)
		}
		r.lag.Set(float64(head - after))
		if head < after {
			// Only a log that lost its tail gets here; verify names it.
			return fmt.Errorf("mirror: mirror is at position %d but the log's head is %d (log tail deleted? run verify)", after, head)
		}
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err = r.src.WaitFor(wctx, after)
		cancel()
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("mirror: wait for commits after %d: %w", after, err)
		}
		return nil
	}
	if recs[0].Position != after+1 {
		return fmt.Errorf("mirror: log returned position %d after %d: gap in the log", recs[0].Position, after)
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].Position != recs[i-1].Position+1 {
			return fmt.Errorf("mirror: log jumps from position %d to %d", recs[i-1].Position, recs[i].Position)
		}
	}
	if !bytes.Equal(recs[0].PrevHash, r.lastHash) {
		// The log took another path than the mirror (a failover lost
		// events the mirror holds, then new ones took their positions):
		// publishing would fork the mirror too.
		return fmt.Errorf("mirror: the log's event at position %d does not continue the mirror's chain (forked record; run verify)", recs[0].Position)
	}
	var sent []pending
	var pubErr error
	if r.atomic {
		sent, pubErr = r.sendAtomic(recs)
	} else {
		sent, pubErr = r.sendEach(recs)
	}
	// Read the next batch while the acks of this one are on their way.
	var next []eventstore.Record
	if pubErr == nil && len(recs) == r.opts.BatchSize {
		next, _ = r.src.ReadAll(ctx, recs[len(recs)-1].Position, r.opts.BatchSize) // on error, step reads again
	}
	n, err := r.await(ctx, sent, pubErr)
	if n > 0 {
		r.lastHash = recs[n-1].Hash
	}
	r.mirrored.Add(int64(n))
	r.published.Add(float64(n))
	for _, p := range sent {
		r.unconfirmed += int64(p.n)
	}
	r.unconfirmed -= int64(n)
	if err != nil {
		return err
	}
	r.prefetched = next
	if len(next) == 0 {
		r.lag.Set(0)
	} else if time.Since(r.lagAt) > 250*time.Millisecond {
		if head, err := r.src.Head(ctx); err == nil {
			r.lag.Set(float64(head - r.mirrored.Load()))
			r.lagAt = time.Now()
		}
	}
	return nil
}

// pending is a published, not yet acknowledged run of records ending at
// position last.
type pending struct {
	f    jetstream.PubAckFuture
	last int64
	n    int
}

// sendEach publishes every record with its own expected last sequence
// (one disk sync per message on a synced store).
func (r *Relay) sendEach(recs []eventstore.Record) ([]pending, error) {
	sent := make([]pending, 0, len(recs))
	var pubErr error
	for _, rec := range recs {
		m := message(rec)
		m.Header.Set(jetstream.ExpectedLastSeqHeader, strconv.FormatInt(rec.Position-1, 10))
		f, err := r.js.PublishMsgAsync(m)
		if err != nil {
			pubErr = fmt.Errorf("mirror: publish position %d: %w", rec.Position, err)
			break
		}
		sent = append(sent, pending{f: f, last: rec.Position, n: 1})
	}
	return sent, pubErr
}

// sendAtomic publishes recs as atomic batches of up to maxAtomicBatch
// messages: the first message of a batch carries the expected last
// sequence, the last one commits it, and the server stores the whole batch
// (with one disk sync) or none of it. Batches are pipelined: each one
// expects the sequence the previous one ends at.
func (r *Relay) sendAtomic(recs []eventstore.Record) ([]pending, error) {
	nc := r.js.Conn()
	sent := make([]pending, 0, len(recs)/maxAtomicBatch+1)
	var pubErr error
outer:
	for start := 0; start < len(recs); start += maxAtomicBatch {
		chunk := recs[start:min(start+maxAtomicBatch, len(recs))]
		id := nuid.Next()
		for i, rec := range chunk {
			m := message(rec)
			m.Header.Set(headerBatchID, id)
			m.Header.Set(headerBatchSeq, strconv.Itoa(i+1))
			if i == 0 {
				m.Header.Set(jetstream.ExpectedLastSeqHeader, strconv.FormatInt(rec.Position-1, 10))
			}
			if i < len(chunk)-1 {
				if err := nc.PublishMsg(m); err != nil {
					pubErr = fmt.Errorf("mirror: publish position %d: %w", rec.Position, err)
					break outer
				}
				continue
			}
			m.Header.Set(headerBatchCommit, "1")
			f, err := r.js.PublishMsgAsync(m)
			if err != nil {
				pubErr = fmt.Errorf("mirror: commit batch ending at position %d: %w", rec.Position, err)
				break outer
			}
			sent = append(sent, pending{f: f, last: rec.Position, n: len(chunk)})
		}
	}
	return sent, pubErr
}

// await waits for the acks of sent in order and returns how many records
// are confirmed; the first failure ends the wait (everything after it
// expected a sequence that was never reached and fails too).
func (r *Relay) await(ctx context.Context, sent []pending, pubErr error) (int, error) {
	timer := time.NewTimer(r.opts.AckTimeout)
	defer timer.Stop()
	done := 0
	for _, p := range sent {
		select {
		case ack := <-p.f.Ok():
			if ack.Sequence != uint64(p.last) {
				return done, fmt.Errorf("mirror: position %d stored as stream sequence %d", p.last, ack.Sequence)
			}
			done += p.n
		case err := <-p.f.Err():
			return done, fmt.Errorf("mirror: publish up to position %d: %w", p.last, err)
		case <-timer.C:
			return done, fmt.Errorf("mirror: no ack for position %d within %s", p.last, r.opts.AckTimeout)
		case <-ctx.Done():
			return done, ctx.Err()
		}
	}
	return done, pubErr
}

// followLag sets the lag gauge from the log's head and the last mirrored
// position every LagInterval while this relay is active, until ctx ends.
func (r *Relay) followLag(ctx context.Context) {
	t := time.NewTicker(r.opts.LagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !r.isActive.Load() || !r.synced.Load() {
			continue
		}
		// mirrored before the head: the head only grows, so the gauge never
		// dips below the true lag.
		mirrored := r.mirrored.Load()
		if head, err := r.src.Head(ctx); err == nil && r.isActive.Load() {
			r.lag.Set(float64(head - mirrored))
		}
	}
}

func (r *Relay) setActive(on bool) {
	r.isActive.Store(on)
	if on {
		r.active.Set(1)
	} else {
		r.active.Set(0)
	}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// relayLock is a session-level advisory lock held on a dedicated connection.
type relayLock struct {
	conn *pgxpool.Conn
}

// acquireLock tries the lock once; it returns nil, nil when another session
// holds it.
func acquireLock(ctx context.Context, pool *pgxpool.Pool) (*relayLock, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("mirror: acquire lock connection: %w", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, $2)", lockClass, lockObject).Scan(&ok); err != nil {
		conn.Release()
		return nil, fmt.Errorf("mirror: try relay lock: %w", err)
	}
	if !ok {
		conn.Release()
		return nil, nil
	}
	return &relayLock{conn: conn}, nil
}

// check fails when the session holding the lock is gone.
func (l *relayLock) check(ctx context.Context) error {
	if _, err := l.conn.Exec(ctx, "SELECT 1"); err != nil {
		return fmt.Errorf("mirror: relay lock session: %w", err)
	}
	return nil
}

// release unlocks; if that fails the connection is closed, which ends the
// session and so releases the lock too.
func (l *relayLock) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.conn.Exec(ctx, "SELECT pg_advisory_unlock($1, $2)", lockClass, lockObject); err != nil {
		_ = l.conn.Conn().Close(ctx)
	}
	l.conn.Release()
}
