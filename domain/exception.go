package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// The exception queue: a software line no registration matched is worked by hand. An
// analyst assigns it to a deal (a manual attribution), dismisses it as direct, or reopens
// it. A manual decision is a fact about the invoice line (OEM, invoice number, line): it
// holds for every revision of the invoice and under every credit memo, whatever order they
// arrive in, and takes precedence over automatic matching until the line is reopened
// (docs/rules.md, rule 14).

// ExceptionAssigned: the line is credited to the deal's partner by hand, exactly as if the
// deal had matched it ("exception.assigned").
type ExceptionAssigned struct {
	OEMID         string `json:"oem_id"`
	InvoiceNumber string `json:"invoice_number"`
	Line          int    `json:"line"`
	DealID        string `json:"deal_id"`
	Reason        string `json:"reason"`
	By            string `json:"by"`
}

// ExceptionDismissed: the line is direct revenue, no partner is credited
// ("exception.dismissed").
type ExceptionDismissed struct {
	OEMID         string `json:"oem_id"`
	InvoiceNumber string `json:"invoice_number"`
	Line          int    `json:"line"`
	Reason        string `json:"reason"`
	By            string `json:"by"`
}

// ExceptionReopened: the manual decision on the line is withdrawn; the line is matched
// automatically again ("exception.reopened").
type ExceptionReopened struct {
	OEMID         string `json:"oem_id"`
	InvoiceNumber string `json:"invoice_number"`
	Line          int    `json:"line"`
	Reason        string `json:"reason"`
	By            string `json:"by"`
}

// EventType implementations of the exception queue.
func (ExceptionAssigned) EventType() string  { return "exception.assigned" }
func (ExceptionDismissed) EventType() string { return "exception.dismissed" }
func (ExceptionReopened) EventType() string  { return "exception.reopened" }

// ExceptionID returns the id of the exception of an invoice line: "x" and the hex of the
// first 16 bytes of the SHA-256 of OEM, invoice number and line (invoice numbers may hold
// any character, the id is safe in a URL path).
func ExceptionID(oemID, invoiceNumber string, line int) string {
	sum := sha256.Sum256([]byte(oemID + "\x00" + invoiceNumber + "\x00" + strconv.Itoa(line)))
	return "x" + hex.EncodeToString(sum[:16])
}

// ExceptionStream returns "exception-<id>", the stream of the manual decisions on one line.
func ExceptionStream(oemID, invoiceNumber string, line int) string {
	return "exception-" + ExceptionID(oemID, invoiceNumber, line)
}

// Manual decisions on a line.
const (
	ManualAssigned  = "assigned"
	ManualDismissed = "dismissed"
)

// ExceptionState is the manual decision in force on a line, folded from its stream.
type ExceptionState struct {
	Decision string // "", ManualAssigned or ManualDismissed
	DealID   string
}

// EvolveException folds an exception event.
func EvolveException(s ExceptionState, e Event) ExceptionState {
	switch e := e.(type) {
	case ExceptionAssigned:
		s = ExceptionState{Decision: ManualAssigned, DealID: e.DealID}
	case ExceptionDismissed:
		s = ExceptionState{Decision: ManualDismissed}
	case ExceptionReopened:
		s = ExceptionState{}
	}
	return s
}

// ExceptionLine is the line an exception names, as the queue shows it.
type ExceptionLine struct {
	OEMID         string
	InvoiceNumber string
	Line          int
	Segment       Segment
	CreditMemo    bool // the exception is a credit memo's line (nothing to assign)
}

// AssignException is the command to credit an exception's line to a deal.
type AssignException struct {
	Line   ExceptionLine
	DealID string
	Reason string
	By     string
}

// DismissException is the command to book an exception's line as direct revenue.
type DismissException struct {
	Line   ExceptionLine
	Reason string
	By     string
}

// ReopenException is the command to withdraw the manual decision on a line.
type ReopenException struct {
	Line   ExceptionLine
	Reason string
	By     string
}

// DecideException decides an exception command (AssignException with the deal it names,
// DismissException, ReopenException) on the line's manual state s.
func DecideException(s ExceptionState, deal DealState, cmd any, _ time.Time) ([]Event, error) {
	switch c := cmd.(type) {
	case AssignException:
		if err := checkExceptionLine(c.Line, c.Reason); err != nil {
			return nil, err
		}
		switch {
		case CheckID("deal_id", c.DealID) != nil:
			return nil, CheckID("deal_id", c.DealID)
		case !deal.Exists():
			return nil, Errorf(NotFound, "deal_id", "", "deal %s not found", c.DealID)
		case deal.ApprovedOn.IsZero():
			return nil, Errorf(Unprocessable, "deal_id", "exception.deal_approved",
				"deal %s was never approved; only an approved registration can take a line", c.DealID)
		case !hasSegment(deal.Segments, c.Line.Segment):
			return nil, Errorf(Unprocessable, "deal_id", "exception.deal_segment",
				"deal %s does not cover segment %s of line %d", c.DealID, c.Line.Segment, c.Line.Line)
		case s.Decision == ManualAssigned && s.DealID == c.DealID:
			return nil, Errorf(Conflict, "deal_id", "exception.unchanged", "the line is already assigned to deal %s", c.DealID)
		}
		return []Event{ExceptionAssigned{OEMID: c.Line.OEMID, InvoiceNumber: c.Line.InvoiceNumber, Line: c.Line.Line,
			DealID: c.DealID, Reason: c.Reason, By: c.By}}, nil
	case DismissException:
		if err := checkExceptionLine(c.Line, c.Reason); err != nil {
			return nil, err
		}
		if s.Decision == ManualDismissed {
			return nil, Errorf(Conflict, "", "exception.unchanged", "the line is already dismissed as direct")
		}
		return []Event{ExceptionDismissed{OEMID: c.Line.OEMID, InvoiceNumber: c.Line.InvoiceNumber, Line: c.Line.Line,
			Reason: c.Reason, By: c.By}}, nil
	case ReopenException:
		if err := checkExceptionLine(c.Line, c.Reason); err != nil {
			return nil, err
		}
		if s.Decision == "" {
			return nil, Errorf(Conflict, "", "exception.not_decided", "the line has no manual decision to withdraw")
		}
		return []Event{ExceptionReopened{OEMID: c.Line.OEMID, InvoiceNumber: c.Line.InvoiceNumber, Line: c.Line.Line,
			Reason: c.Reason, By: c.By}}, nil
	}
	return nil, invalidf("command", "unknown exception command %T", cmd)
}

// checkExceptionLine refuses a line that cannot be worked by hand (a credit memo's, or not
// a software line) and a missing or malformed reason.
func checkExceptionLine(l ExceptionLine, reason string) error {
	if err := CheckRequiredText("reason", reason, MaxReasonLen); err != nil {
		return err
	}
	if l.CreditMemo || l.Line < 1 || l.Segment.Direct() || l.Segment == SegmentServices {
		return Errorf(Unprocessable, "", "exception.software_line",
			"only an invoice's software line can be worked by hand (this exception is a credit memo's or not a software line)")
	}
	return nil
}
