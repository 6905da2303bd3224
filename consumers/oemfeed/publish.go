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

// Publish publishes every non-empty line of r to oem.<oem>.invoices with
// asynchronous publishes, waiting for every acknowledgement (each at most
// opts.AckTimeout). Each message carries Nats-Msg-Id
// "<oem>:<invoice_number>:<revision>" (taken from the body when it has
// those fields). When any line failed the error is a *PublishError;
// Report.Failed lists the lines.
func Publish(ctx context.Context, js jetstream.JetStream, oem string, r io.Reader, opts PublishOptions) (Report, error) {
	var rep Report
	if !ValidOEMID(oem) {
		return rep, fmt.Errorf("oemfeed: publish: invalid oem id %q", oem)
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = DefaultAckTimeout
	}
	type line struct {
		n    int
		body []byte
	}
	var lines []line
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), MaxMessageSize+2)
	for n := 1; sc.Scan(); n++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		lines = append(lines, line{n: n, body: append([]byte(nil), b...)})
	}
	if err := sc.Err(); err != nil {
		return rep, fmt.Errorf("oemfeed: publish: read: %w", err)
	}
	rep.Lines = len(lines)
	subject := Subject(oem)

	type pending struct {
		l    line
		f    jetstream.PubAckFuture
		sent time.Time
	}
	var queue []pending
	var first error
	stalled := false       // an ack timed out: send nothing more, wait for nothing more
	progress := time.Now() // of the last acknowledgement
	done := 0
	fail := func(l line, err error) {
		if first == nil {
			first = err
		}
		rep.Failed = append(rep.Failed, LineError{Line: l.n, Err: err.Error()})
	}
	acked := func(ack *jetstream.PubAck) {
		progress = time.Now()
		rep.Acknowledged++
		if ack.Duplicate {
			rep.Duplicates++
		}
	}
	timedOut := fmt.Errorf("%w after %s", jetstream.ErrAsyncPublishTimeout, opts.AckTimeout)
	settle := func(p pending) {
		defer func() {
			done++
			if opts.Progress != nil {
				opts.Progress(done, len(lines))
			}
		}()
		if stalled { // only what has been answered already counts
			select {
			case ack := <-p.f.Ok():
				acked(ack)
			case err := <-p.f.Err():
				fail(p.l, err)
			default:
				fail(p.l, timedOut)
			}
			return
		}
		t := time.NewTimer(time.Until(maxTime(p.sent, progress).Add(opts.AckTimeout)))
		defer t.Stop()
		select {
		case ack := <-p.f.Ok():
			acked(ack)
		case err := <-p.f.Err():
			progress = time.Now() // an answer, if a refusal
			fail(p.l, err)
		case <-t.C:
			stalled = true
			fail(p.l, timedOut)
		case <-ctx.Done():
			fail(p.l, ctx.Err())
		}
	}
	for _, l := range lines {
		if _, err := Decode(subject, l.body); err != nil {
			rep.Invalid = append(rep.Invalid, LineError{Line: l.n, Err: err.Error()})
		}
		msg := &nats.Msg{Subject: subject, Data: l.body, Header: nats.Header{}}
		if id := msgIDOf(oem, l.body); id != "" {
			msg.Header.Set(jetstream.MsgIDHeader, id)
		}
		if len(queue) >= publishWindow {
			settle(queue[0])
			queue = queue[1:]
		}
		switch {
		case ctx.Err() != nil:
			fail(l, ctx.Err())
			continue
		case stalled:
			fail(l, errors.New("not sent: JetStream stopped acknowledging"))
			continue
		}
		f, err := js.PublishMsgAsync(msg)
		if err != nil {
			fail(l, err)
			continue
		}
		queue = append(queue, pending{l: l, f: f, sent: time.Now()})
	}
	for _, p := range queue {
		settle(p)
	}
	if len(rep.Failed) > 0 {
		return rep, &PublishError{Failed: len(rep.Failed), Total: rep.Lines, AckTimeout: opts.AckTimeout, First: first}
	}
	return rep, nil
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
