// Package ingest is the OEM invoice consumer: it reads each enrolled OEM's
// JetStream stream OEM_<ID> with a durable pull consumer, validates every
// message strictly (consumers/oemfeed), appends the messages to the event
// log with one AppendEach call per commit and acknowledges them only after
// that commit. The invoice's natural key (oem from the subject, invoice
// number, revision) is its event id, so a redelivery or a republish is a
// no-op and several consumer processes may compete on the same durable.
//
// Each OEM is consumed by a pipeline (collect, decode on several
// goroutines, commit, acknowledge) so that the next batches are fetched and
// decoded while one commits and the previous one is acknowledged; batches
// decoded during a commit are merged into the next one (Options.BatchSize,
// Options.CommitMessages).
//
// A message that can never be valid is dead-lettered: published with its
// original body to oem.<oem>.invoices.rejected (stream OEM_INVOICES_DLQ),
// recorded as an invoice.rejected event and terminated. Transient failures
// (database or NATS down, unknown commit outcome) are retried with backoff
// and never dead-lettered.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/consumers/oemfeed"
	"dealcredit/eventstore"
	"dealcredit/internal/backoff"
)

// DLQStream is the dead-letter stream of all OEMs.
const DLQStream = "OEM_INVOICES_DLQ"

// DLQSubjects is the subject filter of DLQStream.
const DLQSubjects = "oem.*.invoices.rejected"

// Dead-letter headers.
const (
	HeaderReason          = "Dealcredit-Reason"
	HeaderOriginalSeq     = "Dealcredit-Original-Seq"
	HeaderOriginalSubject = "Dealcredit-Original-Subject"
	// HeaderBodyOmitted is set, with a sentence saying why, on a dead letter
	// sent without the original body: only when the NATS server's
	// max_payload is too small for the body and the headers together.
	HeaderBodyOmitted = "Dealcredit-Body-Omitted"
)

// DefaultStreamMaxBytes is the default size limit (and store reservation)
// of each OEM stream and of the dead-letter stream: 256 MiB, about 250,000
// invoice messages of 1 KiB.
const DefaultStreamMaxBytes = 256 << 20

// StreamName returns the stream of an OEM: "OEM_" and the id in upper case.
func StreamName(oem string) string { return "OEM_" + strings.ToUpper(oem) }

// Fault points passed to Options.Fault.
const (
	FaultBeforeCommit = "before-commit"
	FaultAfterCommit  = "after-commit" // committed, nothing acknowledged yet
	FaultMidAck       = "mid-ack"      // about half of the batch acknowledged
)

// Options configures a Consumer. The zero value is usable.
type Options struct {
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// Registerer receives the ingest metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Durable is the durable consumer name on every OEM stream (default "dealcredit-ingest").
	Durable string
	// BatchSize is the most messages collected and decoded as one batch
	// (default 500).
	BatchSize int
	// CommitMessages is the most messages appended in one commit: batches
	// decoded while the previous commit ran are merged up to it (default
	// 4 x BatchSize).
	CommitMessages int
	// DecodeWorkers is the number of goroutines decoding a batch (default
	// GOMAXPROCS).
	DecodeWorkers int
	// Linger is how long a partial batch waits for more messages (default 2 ms).
	Linger time.Duration
	// AckWait is the consumer's redelivery timeout for unacknowledged messages (default 30 s).
	AckWait time.Duration
	// MaxAckPending bounds the messages in flight per OEM, delivered but not
	// yet acknowledged (default 4 x CommitMessages + 4 x BatchSize: enough for
	// every stage of the pipeline to hold a full batch).
	MaxAckPending int
	// RetryMin and RetryMax bound the backoff after a transient failure (default 100 ms, 10 s).
	RetryMin, RetryMax time.Duration
	// StopTimeout bounds how long a graceful stop waits for the in-flight batch (default 30 s).
	StopTimeout time.Duration
	// PullExpiry is how long one pull request waits at the server (default
	// 10 s). The server sends a heartbeat every fifth of it; two missed
	// heartbeats (a pull request lost in a partition) make the consumer
	// pull again, so ingest resumes within about 2/5 of PullExpiry of
	// JetStream being reachable again. A reconnect, a new consumer leader
	// and a pull answered "no responders" (JetStream not up yet) pull
	// again at once. Heartbeats are read between messages: a pipeline
	// held up longer than two heartbeats pulls one more batch ahead.
	PullExpiry time.Duration
	// PendingInterval is how often the pending gauge is read from the
	// consumer's info, whether or not messages arrive (default 2 s).
	PendingInterval time.Duration
	// DeadLetterLogRate is the most dead-letter log lines per second and
	// OEM (default 5); the lines suppressed beyond it are counted in the
	// next line's "suppressed" attribute.
	DeadLetterLogRate float64
	// StreamMaxBytes is the size limit of each OEM stream and of the
	// dead-letter stream (default DefaultStreamMaxBytes). JetStream reserves
	// it in its store when the stream is created; a full OEM stream refuses
	// new messages (DiscardNew) instead of dropping old ones.
	StreamMaxBytes int64
	// StreamMaxAge is how long messages are kept in an OEM stream (default 30 days).
	StreamMaxAge time.Duration
	// Replicas is the replica count of the streams (default 1; 3 on a
	// NATS cluster).
	Replicas int
	// DuplicateWindow is the streams' Nats-Msg-Id window (default 10 min);
	// the permanent duplicate check is the event id in Postgres.
	DuplicateWindow time.Duration
	// DoubleAck confirms every ack individually (AckSync) instead of
	// publishing a batch's acks and confirming them with one flush. Both
	// ack only after the commit; a lost ack only causes a redelivery, which
	// the event ids absorb.
	DoubleAck bool
	// Mirrored, when set, holds every acknowledgement back until the
	// events its batch appended (or found already stored) are in the
	// JetStream mirror (mirror.Watermark), so that an acknowledged invoice
	// survives a failover to a standby that lacked it: recover
	// --from-mirror brings it back. Nil acknowledges after the commit
	// alone (tests and benchmarks without a relay).
	Mirrored Mirrored
	// MirrorTimeout bounds the wait for the mirror (default 30 s); the
	// batch's messages are then negatively acknowledged with a delay, never
	// acknowledged, and their redelivery waits again. They are handed back
	// sooner (within a second) when the log no longer holds the batch's
	// event at its position (a failover to a standby that lacked it).
	MirrorTimeout time.Duration
	// Fault, when set, is called at the fault points (FaultBeforeCommit, ...);
	// a non-nil error stops the consumer at once, as a crash would: nothing
	// more is acknowledged or negatively acknowledged, and Run returns it.
	// It exists for fault-injection tests.
	Fault func(point string) error
}

// Mirrored waits until the mirror holds an event.
type Mirrored interface {
	// WaitMirrored returns nil once the mirror holds the event id at
	// position, an error when ctx ends first or the mirror holds another
	// event there.
	WaitMirrored(ctx context.Context, position int64, id uuid.UUID) error
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Durable == "" {
		o.Durable = "dealcredit-ingest"
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.CommitMessages < o.BatchSize {
		o.CommitMessages = 4 * o.BatchSize
	}
	if o.DecodeWorkers <= 0 {
		o.DecodeWorkers = runtime.GOMAXPROCS(0)
	}
	if o.Linger <= 0 {
		o.Linger = 2 * time.Millisecond
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.MaxAckPending <= 0 {
		o.MaxAckPending = 4*o.CommitMessages + 4*o.BatchSize
	}
	if o.MirrorTimeout <= 0 {
		o.MirrorTimeout = 30 * time.Second
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 100 * time.Millisecond
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(10*time.Second, o.RetryMin)
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 30 * time.Second
	}
	if o.PullExpiry <= 0 {
		o.PullExpiry = 10 * time.Second
	}
	if o.PendingInterval <= 0 {
		o.PendingInterval = 2 * time.Second
	}
	if o.DeadLetterLogRate <= 0 {
		o.DeadLetterLogRate = 5
	}
	if o.StreamMaxBytes <= 0 {
		o.StreamMaxBytes = DefaultStreamMaxBytes
	}
	if o.StreamMaxAge <= 0 {
		o.StreamMaxAge = 30 * 24 * time.Hour
	}
	if o.DuplicateWindow <= 0 {
		o.DuplicateWindow = 10 * time.Minute
	}
}

// Consumer ingests the invoice streams of the OEMs it was told about with
// Provision. It is safe for concurrent use.
type Consumer struct {
	js    jetstream.JetStream
	store eventstore.Appender
	opts  Options
	log   *slog.Logger
	m     *metrics
	dead  *deadLetterLog

	mu      sync.Mutex
	oems    []string
	wanted  []string // every OEM Provision was called for, provisioned or not
	running bool
	runCtx  context.Context
	started map[string]bool
	wg      sync.WaitGroup
	fatal   chan error
}

// New returns a Consumer reading from js and appending to store. A revision or
// credit memo in another currency than its invoice's earlier revisions is
// stored like any other: the attribution fold follows the highest revision.
func New(js jetstream.JetStream, store eventstore.Appender, opts Options) (*Consumer, error) {
	if js == nil || store == nil {
		return nil, errors.New("ingest: nil jetstream or store")
	}
	opts.defaults()
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Consumer{js: js, store: store, opts: opts, log: opts.Logger, m: m,
		dead: newDeadLetterLog(opts.Logger, opts.DeadLetterLogRate), started: map[string]bool{}, fatal: make(chan error, 1)}
	return c, nil
}

// Provision creates (or updates) the OEM's stream, the dead-letter stream and
// the durable consumer, and, when Run is running, starts consuming the OEM at
// once. The daemon calls it for every OEM partner at start-up and whenever a
// partner of kind oem is enrolled: only provisioned OEMs have a stream, so
// only enrolled OEMs can deliver invoices. It is idempotent.
func (c *Consumer) Provision(ctx context.Context, oem string) error {
	if !oemfeed.ValidOEMID(oem) {
		return fmt.Errorf("ingest: provision: invalid oem id %q", oem)
	}
	c.mu.Lock()
	if !slices.Contains(c.wanted, oem) {
		c.wanted = append(c.wanted, oem)
	}
	c.mu.Unlock()
	if err := EnsureStreams(ctx, c.js, oem, c.opts); err != nil {
		return err
	}
	_, err := c.js.CreateOrUpdateConsumer(ctx, StreamName(oem), jetstream.ConsumerConfig{
		Durable:       c.opts.Durable,
		Description:   "dealcredit OEM invoice ingest",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.opts.AckWait,
		MaxAckPending: c.opts.MaxAckPending,
		MaxDeliver:    -1, // transient failures retry forever; poison is terminated
		DeliverPolicy: jetstream.DeliverAllPolicy,
		FilterSubject: oemfeed.Subject(oem),
	})
	if err != nil {
		return fmt.Errorf("ingest: provision %s: consumer: %w", oem, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	known := false
	for _, o := range c.oems {
		known = known || o == oem
	}
	if !known {
		c.oems = append(c.oems, oem)
	}
	if c.running && !c.started[oem] {
		c.start(oem)
	}
	return nil
}

// Streams returns the streams the consumer uses: the stream of every OEM
// it was asked to provision (including those whose provisioning has not
// succeeded yet, so that a readiness check names them) and, once there is
// one, the dead-letter stream.
func (c *Consumer) Streams() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.wanted) == 0 {
		return nil
	}
	out := []string{DLQStream}
	for _, oem := range c.wanted {
		out = append(out, StreamName(oem))
	}
	return out
}

// EnsureStreams creates or updates the stream OEM_<ID> (subject
// oem.<oem>.invoices, file storage, DiscardNew, no deletes or purges) and the
// dead-letter stream OEM_INVOICES_DLQ. Only opts' stream settings are used.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, oem string, opts Options) error {
	opts.defaults()
	err := ensureStream(ctx, js, jetstream.StreamConfig{
		Name:        DLQStream,
		Description: "dealcredit: rejected OEM invoice messages",
		Subjects:    []string{DLQSubjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxBytes:    opts.StreamMaxBytes,
		MaxAge:      opts.StreamMaxAge,
		DenyDelete:  true,
		DenyPurge:   true,
		Duplicates:  opts.DuplicateWindow,
		Replicas:    opts.Replicas,
	})
	if err != nil {
		return fmt.Errorf("ingest: stream %s: %w", DLQStream, err)
	}
	err = ensureStream(ctx, js, jetstream.StreamConfig{
		Name:        StreamName(oem),
		Description: "dealcredit: invoices of OEM " + oem,
		Subjects:    []string{oemfeed.Subject(oem)},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		MaxBytes:    opts.StreamMaxBytes,
		MaxAge:      opts.StreamMaxAge,
		MaxMsgSize:  oemfeed.MaxMessageSize + 4096,
		DenyDelete:  true,
		DenyPurge:   true,
		Duplicates:  opts.DuplicateWindow,
		Replicas:    opts.Replicas,
	})
	if err != nil {
		return fmt.Errorf("ingest: stream %s: %w", StreamName(oem), err)
	}
	return nil
}

// ensureStream creates the stream when it is missing and updates it only
// when a setting we manage differs, then waits until the stream has a
// leader. Creating or updating a clustered stream that already exists with
// the same settings is not a no-op on every server version (a racing
// CreateOrUpdate can leave it leaderless), so the common path only reads.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	s, err := js.Stream(ctx, cfg.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		s, err = js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = js.Stream(ctx, cfg.Name)
		}
	case err == nil && !sameStreamSettings(s.CachedInfo().Config, cfg):
		s, err = js.UpdateStream(ctx, cfg)
	}
	if err != nil {
		return err
	}
	const pollEvery = 50 * time.Millisecond
	for {
		info, err := s.Info(ctx)
		if err == nil && (info.Cluster == nil || info.Cluster.Leader != "") {
			return nil
		}
		t := time.NewTimer(pollEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("stream %s has no leader yet: %w", cfg.Name, errors.Join(ctx.Err(), err))
		case <-t.C:
		}
	}
}

// unlimited maps the two spellings of "no limit" (0 in a request, -1 as the
// server reports it) to one.
func unlimited(n int32) int32 {
	if n <= 0 {
		return -1
	}
	return n
}

// sameStreamSettings compares the settings ensureStream manages.
func sameStreamSettings(have, want jetstream.StreamConfig) bool {
	return slices.Equal(have.Subjects, want.Subjects) && have.Replicas == want.Replicas &&
		have.MaxBytes == want.MaxBytes && have.MaxAge == want.MaxAge && unlimited(have.MaxMsgSize) == unlimited(want.MaxMsgSize) &&
		have.Discard == want.Discard && have.Duplicates == want.Duplicates &&
		have.DenyDelete == want.DenyDelete && have.DenyPurge == want.DenyPurge
}

// Run consumes every provisioned OEM (and those provisioned later) until ctx
// ends, then finishes the in-flight batches and returns nil. It returns
// early only with the error of Options.Fault.
func (c *Consumer) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("ingest: run: already running")
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.running, c.runCtx = true, runCtx
	for _, oem := range c.oems {
		c.start(oem)
	}
	c.mu.Unlock()

	var err error
	select {
	case <-runCtx.Done():
	case err = <-c.fatal:
		cancel()
	}
	c.wg.Wait()
	c.mu.Lock()
	c.running, c.runCtx = false, nil
	clear(c.started)
	c.mu.Unlock()
	select {
	case e := <-c.fatal:
		if err == nil {
			err = e
		}
	default:
	}
	return err
}

// start runs the worker of oem; c.mu is held.
func (c *Consumer) start(oem string) {
	c.started[oem] = true
	ctx := c.runCtx
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := c.work(ctx, oem); err != nil {
			select {
			case c.fatal <- err:
			default:
			}
		}
	}()
}

// faultError is an error injected by Options.Fault.
type faultError struct{ err error }

func (e *faultError) Error() string { return "ingest: injected fault: " + e.err.Error() }
func (e *faultError) Unwrap() error { return e.err }

func (c *Consumer) fault(point string) error {
	if c.opts.Fault == nil {
		return nil
	}
	if err := c.opts.Fault(point); err != nil {
		return &faultError{err}
	}
	return nil
}

// work consumes one OEM until ctx ends, reconnecting after failures, and
// keeps the OEM's pending gauge current meanwhile.
func (c *Consumer) work(ctx context.Context, oem string) error {
	pctx, stopPending := context.WithCancel(ctx)
	pendingDone := make(chan struct{})
	go func() {
		defer close(pendingDone)
		c.watchPending(pctx, oem)
	}()
	defer func() { stopPending(); <-pendingDone }()

	b := backoff.Backoff{Min: c.opts.RetryMin, Max: c.opts.RetryMax}
	// A new session is tried at least every second: JetStream coming back
	// (a restart, a new leader, space freed) must resume ingest in seconds.
	sb := backoff.Backoff{Min: c.opts.RetryMin, Max: max(c.opts.RetryMin, time.Second)}
	failing := false
	for {
		started := time.Now()
		err := c.session(ctx, oem, &b)
		var fe *faultError
		if errors.As(err, &fe) {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > 5*time.Second {
			sb.Reset()
			failing = false
		}
		if err != nil {
			// The first failure of a run is a warning; the retries after it
			// (one a second while JetStream is away) are debug lines.
			level := slog.LevelWarn
			if failing {
				level = slog.LevelDebug
			}
			failing = true
			c.log.Log(ctx, level, "ingest: consumer session failed, retrying", "oem", oem, "err", err)
		}
		if sb.Wait(ctx) != nil {
			return nil
		}
	}
}

// watchPending sets the pending gauge of oem from its consumer's info every
// PendingInterval until ctx ends.
func (c *Consumer) watchPending(ctx context.Context, oem string) {
	t := time.NewTicker(c.opts.PendingInterval)
	defer t.Stop()
	for {
		c.updatePending(ctx, oem)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// updatePending reads the consumer's info, with a bound, and sets the
// pending gauge: undelivered plus awaiting acknowledgement. A failed read
// leaves the gauge as it was.
func (c *Consumer) updatePending(ctx context.Context, oem string) {
	ictx, cancel := context.WithTimeout(ctx, min(c.opts.PendingInterval, 2*time.Second))
	defer cancel()
	cons, err := c.js.Consumer(ictx, StreamName(oem), c.opts.Durable)
	if err != nil {
		return
	}
	info := cons.CachedInfo()
	c.m.pending.WithLabelValues(oem).Set(float64(info.NumPending) + float64(info.NumAckPending))
}
