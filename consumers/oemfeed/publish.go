package oemfeed

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrNotAcknowledged is returned (wrapped) by Publish when some lines were
// not acknowledged by JetStream; Report.Failed lists them.
var ErrNotAcknowledged = errors.New("oemfeed: some messages were not acknowledged")

// LineError is a problem with one line of a feed file (1-based line number).
type LineError struct {
	Line int
	Err  string
}

// String renders the error as "line N: reason".
func (e LineError) String() string { return fmt.Sprintf("line %d: %s", e.Line, e.Err) }

// Report is the outcome of Publish.
type Report struct {
	// Lines is the number of non-empty lines read.
	Lines int
	// Acknowledged lines were stored by JetStream (or were already there).
	Acknowledged int
	// Duplicates were acknowledged as duplicates inside the stream's window.
	Duplicates int
	// Invalid lines fail Decode; they are published anyway (the daemon
	// dead-letters them with the same reason) and listed here as warnings.
	Invalid []LineError
	// Failed lines were not acknowledged.
	Failed []LineError
}

// publishWindow bounds the async publishes awaiting their acks.
const publishWindow = 2048

// DefaultAckTimeout is how long Publish waits for JetStream to acknowledge
// a message when PublishOptions.AckTimeout is zero.
const DefaultAckTimeout = 5 * time.Second

// PublishOptions configures Publish. The zero value is usable.
type PublishOptions struct {
	// AckTimeout bounds the wait for the next acknowledgement (default
	// DefaultAckTimeout): Publish fails when JetStream acknowledged none of
	// the messages in flight for that long, however many are in flight.
	// It then sends nothing more: a JetStream that does not answer (a full
	// disk, a stream without a leader) would not answer the rest either.
	AckTimeout time.Duration
	// Progress, when not nil, is called with the settled and total line
	// counts after each line.
	Progress func(done, total int)
}

// PublishError is the error of a Publish whose lines were not all
// acknowledged. It wraps ErrNotAcknowledged and the first error JetStream
// gave (a *jetstream.APIError with its error code when it answered,
// jetstream.ErrAsyncPublishTimeout when it did not).
type PublishError struct {
	Failed, Total int
	AckTimeout    time.Duration
	First         error
}

func (e *PublishError) Error() string {
	msg := fmt.Sprintf("oemfeed: JetStream did not acknowledge %d of %d messages within %s: %v", e.Failed, e.Total, e.AckTimeout, e.First)
	var api *jetstream.APIError
	switch {
	case errors.As(e.First, &api):
		msg += fmt.Sprintf(" (JetStream error %d", api.ErrorCode)
		if d := strings.ToLower(api.Description); strings.Contains(d, "bytes") || strings.Contains(d, "resources") || strings.Contains(d, "storage") {
			msg += ": the stream or the JetStream store is full"
		}
		msg += ")"
	case errors.Is(e.First, jetstream.ErrAsyncPublishTimeout), errors.Is(e.First, context.DeadlineExceeded):
		msg += " (no answer from JetStream: is its store full or the stream without a leader? see the daemon's /readyz)"
	case errors.Is(e.First, jetstream.ErrNoStreamResponse), errors.Is(e.First, nats.ErrNoResponders):
		msg += " (no stream listens on the subject: is the OEM enrolled?)"
	}
	return msg
}

func (e *PublishError) Unwrap() []error { return []error{ErrNotAcknowledged, e.First} }

// Publish publishes every non-empty line of r to oem.<oem>.invoices: it is
// ReadFeed, then PublishFeed.
func Publish(ctx context.Context, js jetstream.JetStream, oem string, r io.Reader, opts PublishOptions) (Report, error) {
	if !ValidOEMID(oem) {
		return Report{}, fmt.Errorf("oemfeed: publish: invalid oem id %q", oem)
	}
	feed, err := ReadFeed(r)
	if err != nil {
		return Report{}, fmt.Errorf("oemfeed: publish: %w", err)
	}
	return PublishFeed(ctx, js, oem, feed, opts)
}

// Feed is a feed file read whole: its non-empty lines, trimmed, with their
// line numbers.
type Feed struct{ lines []feedLine }

// Len is the number of non-empty lines.
func (f *Feed) Len() int { return len(f.lines) }

// FeedError is a feed that cannot be read; Line is the 1-based line at
// fault, 0 when the error is not one line's (a read error).
type FeedError struct {
	Line int
	Err  error
}

func (e *FeedError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return e.Err.Error()
}

func (e *FeedError) Unwrap() error { return e.Err }

// ReadFeed reads every line of r before anything is sent, so that a feed
// that cannot be read publishes nothing. A line longer than MaxMessageSize
// (plus a line end) is a *FeedError naming it, as is a read error.
func ReadFeed(r io.Reader) (*Feed, error) {
	f := &Feed{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), MaxMessageSize+2)
	n := 1
	for ; sc.Scan(); n++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		f.lines = append(f.lines, feedLine{n: n, body: append([]byte(nil), b...)})
	}
	switch err := sc.Err(); {
	case errors.Is(err, bufio.ErrTooLong):
		return nil, &FeedError{Line: n, Err: fmt.Errorf("longer than %d bytes, the largest message", MaxMessageSize)}
	case err != nil:
		return nil, &FeedError{Err: err}
	}
	return f, nil
}

// PublishFeed publishes the lines of feed to oem.<oem>.invoices with
// asynchronous publishes, waiting for every acknowledgement (each at most
// opts.AckTimeout). Each message carries Nats-Msg-Id
// "<oem>:<invoice_number>:<revision>" (taken from the body when it has
// those fields). When any line failed the error is a *PublishError;
// Report.Failed lists the lines.
func PublishFeed(ctx context.Context, js jetstream.JetStream, oem string, feed *Feed, opts PublishOptions) (Report, error) {
	if !ValidOEMID(oem) {
		return Report{}, fmt.Errorf("oemfeed: publish: invalid oem id %q", oem)
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = DefaultAckTimeout
	}
	lines := feed.lines
	p := &publisher{ctx: ctx, opts: opts, total: len(lines), progress: time.Now(),
		timedOut: fmt.Errorf("%w after %s", jetstream.ErrAsyncPublishTimeout, opts.AckTimeout)}
	p.rep.Lines = len(lines)
	subject := Subject(oem)
	for _, l := range lines {
		if _, err := Decode(subject, l.body); err != nil {
			p.rep.Invalid = append(p.rep.Invalid, LineError{Line: l.n, Err: err.Error()})
		}
		if len(p.queue) >= publishWindow {
			p.settle(p.queue[0])
			p.queue = p.queue[1:]
		}
		p.send(js, oem, l)
	}
	for _, q := range p.queue {
		p.settle(q)
	}
	if len(p.rep.Failed) > 0 {
		return p.rep, &PublishError{Failed: len(p.rep.Failed), Total: p.rep.Lines, AckTimeout: opts.AckTimeout, First: p.first}
	}
	return p.rep, nil
}

// feedLine is one non-empty line of a feed file.
type feedLine struct {
	n    int // 1-based line number
	body []byte
}

// publisher is the state of one Publish: the publishes awaiting their acks
// and the report.
type publisher struct {
	ctx      context.Context
	opts     PublishOptions
	total    int
	rep      Report
	queue    []pendingLine
	first    error     // the first failure
	stalled  bool      // an ack timed out: send nothing more, wait for nothing more
	progress time.Time // of the last acknowledgement
	done     int
	timedOut error
}

// pendingLine is a line published and not yet settled.
type pendingLine struct {
	l    feedLine
	f    jetstream.PubAckFuture
	sent time.Time
}

func (p *publisher) fail(l feedLine, err error) {
	if p.first == nil {
		p.first = err
	}
	p.rep.Failed = append(p.rep.Failed, LineError{Line: l.n, Err: err.Error()})
}

func (p *publisher) acked(ack *jetstream.PubAck) {
	p.progress = time.Now()
	p.rep.Acknowledged++
	if ack.Duplicate {
		p.rep.Duplicates++
	}
}

// send publishes a line asynchronously, unless ctx ended or JetStream
// stopped acknowledging.
func (p *publisher) send(js jetstream.JetStream, oem string, l feedLine) {
	switch {
	case p.ctx.Err() != nil:
		p.fail(l, p.ctx.Err())
		return
	case p.stalled:
		p.fail(l, errors.New("not sent: JetStream stopped acknowledging"))
		return
	}
	msg := &nats.Msg{Subject: Subject(oem), Data: l.body, Header: nats.Header{}}
	if id := msgIDOf(oem, l.body); id != "" {
		msg.Header.Set(jetstream.MsgIDHeader, id)
	}
	f, err := js.PublishMsgAsync(msg)
	if err != nil {
		p.fail(l, err)
		return
	}
	p.queue = append(p.queue, pendingLine{l: l, f: f, sent: time.Now()})
}

// settle waits for the answer to q, at most AckTimeout after it was sent or
// after the last acknowledgement, whichever is later; once stalled it only
// takes an answer already there.
func (p *publisher) settle(q pendingLine) {
	defer func() {
		p.done++
		if p.opts.Progress != nil {
			p.opts.Progress(p.done, p.total)
		}
	}()
	if p.stalled {
		select {
		case ack := <-q.f.Ok():
			p.acked(ack)
		case err := <-q.f.Err():
			p.fail(q.l, err)
		default:
			p.fail(q.l, p.timedOut)
		}
		return
	}
	t := time.NewTimer(time.Until(maxTime(q.sent, p.progress).Add(p.opts.AckTimeout)))
	defer t.Stop()
	select {
	case ack := <-q.f.Ok():
		p.acked(ack)
	case err := <-q.f.Err():
		p.progress = time.Now() // an answer, if a refusal
		p.fail(q.l, err)
	case <-t.C:
		p.stalled = true
		p.fail(q.l, p.timedOut)
	case <-p.ctx.Done():
		p.fail(q.l, p.ctx.Err())
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// msgIDOf returns the Nats-Msg-Id of a body, or "" when it has no usable
// invoice_number and revision.
func msgIDOf(oem string, body []byte) string {
	var k struct {
		InvoiceNumber string          `json:"invoice_number"`
		Revision      json.RawMessage `json:"revision"`
	}
	if json.Unmarshal(body, &k) != nil || !numberPattern.MatchString(k.InvoiceNumber) {
		return ""
	}
	rev, err := strconv.Atoi(string(k.Revision))
	if err != nil || rev < 1 {
		return ""
	}
	return MsgID(oem, k.InvoiceNumber, rev)
}
