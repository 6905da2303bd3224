// Package jshealth tells whether JetStream can store what the daemon sends
// it, now: the readiness probe behind the "nats" check of /readyz. Being
// connected is not enough: a JetStream whose disk is full keeps its
// connections, answers account info and stays silent on publishes.
package jshealth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// ProbeStream is the stream the write probe publishes to: one small
// message per daemon instance, with no reservation, so it fails exactly
// when the streams without a size limit (the event mirror) cannot store.
const ProbeStream = "DEALCREDIT_HEALTH"

// ProbeSubjects is the subject filter of ProbeStream.
const ProbeSubjects = "dealcredit.health.>"

// DefaultTimeout bounds one probe when Options.Timeout is zero.
const DefaultTimeout = time.Second

// Options configures a Prober.
type Options struct {
	// Streams returns the streams the daemon uses; each must exist, have a
	// leader and room for more messages. Nil checks none.
	Streams func() []string
	// Replicas of the probe stream (as the daemon's other streams).
	Replicas int
	// Timeout bounds one probe (default DefaultTimeout).
	Timeout time.Duration
}

// Prober probes JetStream. It is safe for concurrent use; probes run one
// at a time.
type Prober struct {
	js      jetstream.JetStream
	opts    Options
	subject string

	mu sync.Mutex
	// stale: the probe stream may hold a sticky write error (a file store
	// that failed a write refuses every later one until it is loaded
	// again), so it is deleted and created again before the next probe.
	stale bool
}

// New returns a Prober on js.
func New(js jetstream.JetStream, opts Options) *Prober {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Replicas < 1 {
		opts.Replicas = 1
	}
	return &Prober{js: js, opts: opts, subject: "dealcredit.health." + nuid.Next()}
}

// Check returns nil when JetStream is reachable, every stream of
// Options.Streams has a leader and room, and a write to ProbeStream is
// acknowledged, all within the timeout; otherwise an error naming what
// failed.
func (p *Prober) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	if !p.js.Conn().IsConnected() {
		return errors.New("not connected to NATS")
	}
	if _, err := p.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("JetStream account info: %w", err)
	}
	if p.opts.Streams != nil {
		for _, name := range p.opts.Streams() {
			if err := checkStream(ctx, p.js, name); err != nil {
				return err
			}
		}
	}
	return p.writeProbe(ctx)
}

// checkStream checks that the stream exists, has a leader and has room.
func checkStream(ctx context.Context, js jetstream.JetStream, name string) error {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	info := s.CachedInfo()
	if info.Cluster != nil && info.Cluster.Leader == "" {
		return fmt.Errorf("stream %s has no leader", name)
	}
	// Full: less than 1% (at least 16 KiB) left of a stream that refuses
	// new messages when it reaches its limit.
	if limit := info.Config.MaxBytes; limit > 0 && info.Config.Discard == jetstream.DiscardNew {
		if free := limit - int64(info.State.Bytes); free < max(16<<10, limit/100) {
			return fmt.Errorf("stream %s is full: %d of %d bytes used (DEALCREDIT_STREAM_MAX_BYTES)", name, info.State.Bytes, limit)
		}
	}
	return nil
}

// writeProbe publishes one message to ProbeStream and waits for its ack.
func (p *Prober) writeProbe(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stale {
		if err := p.js.DeleteStream(ctx, ProbeStream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("JetStream write probe: renew %s: %w", ProbeStream, err)
		}
		p.stale = false
	}
	_, err := p.js.Publish(ctx, p.subject, []byte("ok"))
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		if err = p.createStream(ctx); err == nil {
			_, err = p.js.Publish(ctx, p.subject, []byte("ok"))
		}
	}
	if err == nil {
		return nil
	}
	var api *jetstream.APIError
	if errors.As(err, &api) {
		return fmt.Errorf("JetStream cannot store (write probe to %s): %w", ProbeStream, err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
		p.stale = true
		return fmt.Errorf("JetStream did not acknowledge a write within %s (store full or no stream leader?): %w", p.opts.Timeout, err)
	}
	return fmt.Errorf("JetStream write probe: %w", err)
}

func (p *Prober) createStream(ctx context.Context) error {
	_, err := p.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              ProbeStream,
		Description:       "dealcredit: readiness write probe, one message per daemon instance",
		Subjects:          []string{ProbeSubjects},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxMsgsPerSubject: 1,
		MaxAge:            time.Hour,
		Replicas:          p.opts.Replicas,
	})
	if err != nil {
		return fmt.Errorf("create %s: %w", ProbeStream, err)
	}
	return nil
}
