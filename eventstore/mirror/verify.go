package mirror

import (
	"bytes"
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/eventstore"
)

// verifyReadBatch is how many log records Verify reads per query.
const verifyReadBatch = 2000

// Report is the outcome of comparing the mirror with the log.
type Report struct {
	// LogHead is the log's last position when the check started.
	LogHead int64
	// MirrorHead is the mirror's last stream sequence when the check started.
	MirrorHead int64
	// Checked is how many positions were compared and found equal.
	Checked int64
	// Behind is how many log positions the mirror has not received yet
	// (the relay is lagging). It is not a failure: the compared prefix is
	// what Verify vouches for.
	Behind int64
	// BadPosition is the first position where mirror and log disagree, 0
	// when they agree.
	BadPosition int64
	// Reason says what is wrong at BadPosition.
	Reason string
}

// OK reports whether mirror and log agree on every position both hold.
func (r Report) OK() bool { return r.BadPosition == 0 }

// Err returns nil when r is OK, else an error naming the first bad position.
func (r Report) Err() error {
	if r.OK() {
		return nil
	}
	return fmt.Errorf("mirror: mismatch at position %d: %s", r.BadPosition, r.Reason)
}

// VerifyOption configures Verify.
type VerifyOption func(*verifyConfig)

type verifyConfig struct {
	progress func(pos int64)
}

// WithProgress calls fn with each position after it was checked.
func WithProgress(fn func(pos int64)) VerifyOption {
	return func(c *verifyConfig) { c.progress = fn }
}

// Verify compares the mirror DEALCREDIT_EVENTS with the log record by
// record: stream sequence == position, Nats-Msg-Id == event id, the hash
// chain recomputed from the mirror's own headers and body, and the log's id
// and hash at every position equal to the mirror's. A log that lost its tail
// (mirror longer than the log), a rewritten chain (hashes differ from the
// mirror) or a missing mirror message yields a Report that is not OK and
// names the first bad position. The error is for failures to check at all
// (database or NATS unreachable).
func Verify(ctx context.Context, store eventstore.Reader, js jetstream.JetStream, opts ...VerifyOption) (Report, error) {
	var cfg verifyConfig
	for _, o := range opts {
		o(&cfg)
	}
	var rep Report
	head, err := store.Head(ctx)
	if err != nil {
		return rep, fmt.Errorf("mirror: verify: log head: %w", err)
	}
	rep.LogHead = head
	stream, last, err := openMirror(ctx, js)
	if err != nil {
		return rep, fmt.Errorf("mirror: verify: %w", err)
	}
	if stream == nil {
		if head > 0 {
			rep.BadPosition, rep.Reason = 1, "mirror stream "+StreamName+" does not exist"
			rep.Behind = head
		}
		return rep, nil
	}
	rep.MirrorHead = last
	if head > last {
		rep.Behind = head - last
	}
	if last == 0 {
		return rep, nil
	}

	cons, err := js.OrderedConsumer(ctx, StreamName, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return rep, fmt.Errorf("mirror: verify: consumer: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(1000))
	if err != nil {
		return rep, fmt.Errorf("mirror: verify: consume: %w", err)
	}
	defer it.Stop()

	mirrorChain := eventstore.NewChainVerifier()
	var (
		logBuf   []eventstore.Record
		logAfter int64
		logEnded bool
		prevLog  = eventstore.ZeroHash
	)
	bad := func(pos int64, format string, args ...any) (Report, error) {
		rep.BadPosition = pos
		rep.Reason = fmt.Sprintf(format, args...)
		return rep, nil
	}
	for pos := int64(1); pos <= last; pos++ {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("mirror: verify: %w", err)
		}
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return rep, fmt.Errorf("mirror: verify: read mirror at %d: %w", pos, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return rep, fmt.Errorf("mirror: verify: message metadata at %d: %w", pos, err)
		}
		seq := int64(md.Sequence.Stream)
		if seq != pos {
			return bad(pos, "mirror message for position %d is missing (next stream sequence is %d)", pos, seq)
		}
		mrec, err := Decode(msg.Headers(), msg.Data())
		if err != nil {
			return bad(pos, "mirror message unreadable: %v", err)
		}
		if mrec.Position != pos {
			return bad(pos, "mirror sequence %d carries position %d", pos, mrec.Position)
		}
		if id := msg.Headers().Get(jetstream.MsgIDHeader); id != mrec.ID.String() {
			return bad(pos, "mirror Nats-Msg-Id %q is not the event id %s", id, mrec.ID)
		}
		if err := mirrorChain.Add(mrec); err != nil {
			return bad(pos, "mirror chain does not hold: %v", err)
		}

		if len(logBuf) == 0 && !logEnded {
			logBuf, err = store.ReadAll(ctx, logAfter, verifyReadBatch)
			if err != nil {
				return rep, fmt.Errorf("mirror: verify: read log after %d: %w", logAfter, err)
			}
			logEnded = len(logBuf) == 0
		}
		if len(logBuf) == 0 {
			return bad(pos, "position %d is in the mirror but not in the log (log ends at %d: tail deleted)", pos, logAfter)
		}
		lrec := logBuf[0]
		logBuf = logBuf[1:]
		logAfter = lrec.Position
		switch {
		case lrec.Position != pos:
			return bad(pos, "log has no position %d (next log position is %d) but the mirror has it", pos, lrec.Position)
		case lrec.ID != mrec.ID:
			return bad(pos, "log event id %s differs from the mirror's %s", lrec.ID, mrec.ID)
		case !bytes.Equal(lrec.Hash, mrec.Hash):
			return bad(pos, "log hash %x differs from the mirror's %x (log rewritten)", lrec.Hash, mrec.Hash)
		case !bytes.Equal(lrec.PrevHash, prevLog) || !bytes.Equal(eventstore.HashRecord(prevLog, lrec), lrec.Hash):
			return bad(pos, "log record content does not match its hash")
		}
		prevLog = lrec.Hash
		rep.Checked++
		if cfg.progress != nil {
			cfg.progress(pos)
		}
	}
	return rep, nil
}
