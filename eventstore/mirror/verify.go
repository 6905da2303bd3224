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

	v := &verifier{store: store, it: it, mirrorChain: eventstore.NewChainVerifier(), prevLog: eventstore.ZeroHash}
	for pos := int64(1); pos <= last; pos++ {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("mirror: verify: %w", err)
		}
		reason, err := v.check(ctx, pos)
		if err != nil {
			return rep, fmt.Errorf("mirror: verify: %w", err)
		}
		if reason != "" {
			rep.BadPosition, rep.Reason = pos, reason
			return rep, nil
		}
		rep.Checked++
		if cfg.progress != nil {
			cfg.progress(pos)
		}
	}
	return rep, nil
}

// verifier walks the mirror and the log side by side, one position at a time.
type verifier struct {
	store       eventstore.Reader
	it          jetstream.MessagesContext
	mirrorChain *eventstore.ChainVerifier

	logBuf   []eventstore.Record // log records read ahead
	logAfter int64               // the last log position taken from logBuf
	logEnded bool
	prevLog  []byte // the hash of the log record before the next one
}

// check compares position pos of the mirror and the log. It returns why they
// disagree ("" when they agree), or an error when it could not read them.
func (v *verifier) check(ctx context.Context, pos int64) (reason string, err error) {
	mrec, reason, err := v.mirrorRecord(ctx, pos)
	if reason != "" || err != nil {
		return reason, err
	}
	lrec, ok, err := v.nextLogRecord(ctx)
	if err != nil {
		return "", err
	}
	if !ok {
		return fmt.Sprintf("position %d is in the mirror but not in the log (log ends at %d: tail deleted)", pos, v.logAfter), nil
	}
	switch {
	case lrec.Position != pos:
		return fmt.Sprintf("log has no position %d (next log position is %d) but the mirror has it", pos, lrec.Position), nil
	case lrec.ID != mrec.ID:
		return fmt.Sprintf("log event id %s differs from the mirror's %s", lrec.ID, mrec.ID), nil
	case !bytes.Equal(lrec.Hash, mrec.Hash):
		return fmt.Sprintf("log hash %x differs from the mirror's %x (log rewritten)", lrec.Hash, mrec.Hash), nil
	case !bytes.Equal(lrec.PrevHash, v.prevLog) || !bytes.Equal(eventstore.HashRecord(v.prevLog, lrec), lrec.Hash):
		return "log record content does not match its hash", nil
	}
	v.prevLog = lrec.Hash
	return "", nil
}

// mirrorRecord reads the mirror's next message, which must be position pos,
// and checks it against its own headers and the mirror's hash chain.
func (v *verifier) mirrorRecord(ctx context.Context, pos int64) (rec eventstore.Record, reason string, err error) {
	msg, err := v.it.Next(jetstream.NextContext(ctx))
	if err != nil {
		return rec, "", fmt.Errorf("read mirror at %d: %w", pos, err)
	}
	md, err := msg.Metadata()
	if err != nil {
		return rec, "", fmt.Errorf("message metadata at %d: %w", pos, err)
	}
	if seq := int64(md.Sequence.Stream); seq != pos {
		return rec, fmt.Sprintf("mirror message for position %d is missing (next stream sequence is %d)", pos, seq), nil
	}
	rec, err = Decode(msg.Headers(), msg.Data())
	switch {
	case err != nil:
		return rec, fmt.Sprintf("mirror message unreadable: %v", err), nil
	case rec.Position != pos:
		return rec, fmt.Sprintf("mirror sequence %d carries position %d", pos, rec.Position), nil
	}
	if id := msg.Headers().Get(jetstream.MsgIDHeader); id != rec.ID.String() {
		return rec, fmt.Sprintf("mirror Nats-Msg-Id %q is not the event id %s", id, rec.ID), nil
	}
	if err := v.mirrorChain.Add(rec); err != nil {
		return rec, fmt.Sprintf("mirror chain does not hold: %v", err), nil
	}
	return rec, "", nil
}

// nextLogRecord returns the log's next record, reading verifyReadBatch at a
// time; ok is false when the log has ended.
func (v *verifier) nextLogRecord(ctx context.Context) (rec eventstore.Record, ok bool, err error) {
	if len(v.logBuf) == 0 && !v.logEnded {
		v.logBuf, err = v.store.ReadAll(ctx, v.logAfter, verifyReadBatch)
		if err != nil {
			return rec, false, fmt.Errorf("read log after %d: %w", v.logAfter, err)
		}
		v.logEnded = len(v.logBuf) == 0
	}
	if len(v.logBuf) == 0 {
		return rec, false, nil
	}
	rec, v.logBuf = v.logBuf[0], v.logBuf[1:]
	v.logAfter = rec.Position
	return rec, true, nil
}
