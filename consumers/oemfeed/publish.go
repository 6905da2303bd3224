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

// Publish publishes every non-empty line of r to oem.<oem>.invoices with
// asynchronous publishes, waiting for every acknowledgement. Each message
// carries Nats-Msg-Id "<oem>:<invoice_number>:<revision>" (taken from the
// body when it has those fields). progress, when not nil, is called with
// the acknowledged and total line counts. The error wraps
// ErrNotAcknowledged when any line failed.
func Publish(ctx context.Context, js jetstream.JetStream, oem string, r io.Reader, progress func(done, total int)) (Report, error) {
	var rep Report
	if !ValidOEMID(oem) {
		return rep, fmt.Errorf("oemfeed: publish: invalid oem id %q", oem)
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
		l line
		f jetstream.PubAckFuture
	}
	var queue []pending
	done := 0
	settle := func(p pending) {
		select {
		case ack := <-p.f.Ok():
			rep.Acknowledged++
			if ack.Duplicate {
				rep.Duplicates++
			}
		case err := <-p.f.Err():
			rep.Failed = append(rep.Failed, LineError{Line: p.l.n, Err: err.Error()})
		case <-ctx.Done():
			rep.Failed = append(rep.Failed, LineError{Line: p.l.n, Err: ctx.Err().Error()})
		}
		done++
		if progress != nil {
			progress(done, len(lines))
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
		if ctx.Err() != nil {
			rep.Failed = append(rep.Failed, LineError{Line: l.n, Err: ctx.Err().Error()})
			continue
		}
		f, err := js.PublishMsgAsync(msg)
		if err != nil {
			rep.Failed = append(rep.Failed, LineError{Line: l.n, Err: err.Error()})
			continue
		}
		queue = append(queue, pending{l: l, f: f})
	}
	for _, p := range queue {
		settle(p)
	}
	if len(rep.Failed) > 0 {
		return rep, fmt.Errorf("oemfeed: publish %s: %d of %d lines: %w", oem, len(rep.Failed), rep.Lines, ErrNotAcknowledged)
	}
	return rep, nil
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
