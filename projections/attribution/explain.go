package attribution

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"dealcredit/domain"
)

// ExplainedEvent is one event behind a credit, read from the log.
type ExplainedEvent struct {
	Position   int64           `json:"position"`
	EventID    string          `json:"event_id"`
	Type       string          `json:"type"`
	StreamID   string          `json:"stream_id"`
	OccurredAt time.Time       `json:"occurred_at"`
	RecordedAt time.Time       `json:"recorded_at"`
	Data       json.RawMessage `json:"data"`
	// Actor and Source are the event's provenance from its metadata: who
	// recorded it and from where ("import partners.csv:7" for an imported
	// fact, "http POST /v1/deals", "oem.hp.invoices"); empty when unknown.
	Actor  string `json:"actor,omitempty"`
	Source string `json:"source,omitempty"`
}

// ExplainedCredit is one ledger line of the invoice line and its events.
// Arithmetic is how its amount was computed, in major units (see
// domain.Credit.Arithmetic; empty when the row carries no computation).
// BookedBy is the event at the row's position: the fact whose folding booked
// it (for a re-attribution, the fact that caused it). Replaces is, for a
// reversal, the earlier row of the line it reverses.
type ExplainedCredit struct {
	LedgerLine
	Arithmetic string           `json:"arithmetic"`
	BookedBy   *ExplainedEvent  `json:"booked_by,omitempty"`
	Replaces   *RowRef          `json:"replaces,omitempty"`
	Events     []ExplainedEvent `json:"events"`
}

// RowRef names a ledger row by its key.
type RowRef struct {
	Position int64 `json:"position"`
	Seq      int   `json:"seq"`
}

// Explanation is every credit booked for one invoice line, in log order.
type Explanation struct {
	OEMID         string            `json:"oem_id"`
	InvoiceNumber string            `json:"invoice_number"`
	Line          int               `json:"line"`
	Position      int64             `json:"position"`
	Credits       []ExplainedCredit `json:"credits"`
}

// Explain returns the credits booked for line of the OEM's invoice (credit
// memos for it included, since their lines refer to the original's) and,
// for each, the events behind it as stored in the log (public.events). It
// returns errNoLine wrapped when the ledger has nothing for that line.
func (r *Reader) Explain(ctx context.Context, oemID, invoice string, line int) (Explanation, error) {
	ex := Explanation{OEMID: oemID, InvoiceNumber: invoice, Line: line}
	pos, err := r.snapshot(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, ledgerSelectFrom("")+r.table("ledger")+`
			WHERE oem_id = $1 AND invoice_number = $2 AND line = $3 ORDER BY position, seq`, oemID, invoice, line)
		if err != nil {
			return fmt.Errorf("attribution: explain: %w", err)
		}
		for rows.Next() {
			l, err := scanLedger(nil, rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("attribution: explain: %w", err)
			}
			ex.Credits = append(ex.Credits, ExplainedCredit{LedgerLine: l, Arithmetic: l.credit().Arithmetic()})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("attribution: explain: %w", err)
		}
		linkReversals(ex.Credits)
		for i := range ex.Credits {
			c := &ex.Credits[i]
			evs, err := explainEvents(ctx, tx, `event_id::text = ANY($1)`, c.EventIDs)
			if err != nil {
				return err
			}
			c.Events = evs
			by, err := explainEvents(ctx, tx, `position = $1`, c.Position)
			if err != nil {
				return err
			}
			if len(by) == 1 {
				c.BookedBy = &by[0]
			}
		}
		return nil
	})
	if err != nil {
		return ex, err
	}
	ex.Position = pos
	if len(ex.Credits) == 0 {
		return ex, fmt.Errorf("%w for %s %s line %d", errNoLine, oemID, invoice, line)
	}
	return ex, nil
}

// from is " from SOURCE" for an event whose source is known.
func from(source string) string {
	if source == "" {
		return ""
	}
	return " from " + source
}

// explainEvents reads the events matching where (with arg as $1), in log order.
func explainEvents(ctx context.Context, tx pgx.Tx, where string, arg any) ([]ExplainedEvent, error) {
	rows, err := tx.Query(ctx, `SELECT position, event_id::text, type, stream_id, occurred_at, recorded_at, data::text,
		coalesce(metadata->>'actor', ''), coalesce(metadata->>'source', '')
		FROM public.events WHERE `+where+` ORDER BY position`, arg)
	if err != nil {
		return nil, fmt.Errorf("attribution: explain events: %w", err)
	}
	defer rows.Close()
	var out []ExplainedEvent
	for rows.Next() {
		var e ExplainedEvent
		var data string
		if err := rows.Scan(&e.Position, &e.EventID, &e.Type, &e.StreamID, &e.OccurredAt, &e.RecordedAt, &data, &e.Actor, &e.Source); err != nil {
			return nil, fmt.Errorf("attribution: explain events: %w", err)
		}
		e.Data = json.RawMessage(data)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("attribution: explain events: %w", err)
	}
	return out, nil
}

// linkReversals points each reversal row (reason "reversal: ...", as the
// domain books them) at the latest earlier row of the line it undoes: same
// kind, partner, registration and currency, the opposite amount, not yet
// reversed.
func linkReversals(cs []ExplainedCredit) {
	reversed := make([]bool, len(cs))
	for i := range cs {
		c := &cs[i]
		if !strings.HasPrefix(c.Reason, "reversal: ") {
			continue
		}
		for j := i - 1; j >= 0; j-- {
			o := &cs[j]
			if !reversed[j] && o.Kind == c.Kind && o.PartnerID == c.PartnerID && o.RegistrationID == c.RegistrationID &&
				o.Currency == c.Currency && o.AmountMinor == -c.AmountMinor && !strings.HasPrefix(o.Reason, "reversal: ") {
				reversed[j] = true
				c.Replaces = &RowRef{Position: o.Position, Seq: o.Seq}
				break
			}
		}
	}
}

// credit is the ledger line as the domain's credit (the fields Arithmetic reads).
func (l LedgerLine) credit() domain.Credit {
	return domain.Credit{Kind: domain.CreditKind(l.Kind), Amount: domain.Money{Amount: l.AmountMinor, Currency: l.Currency},
		Base: l.BaseMinor, RateBPS: l.RateBPS, Returned: l.ReturnedMinor, ReturnedBefore: l.ReturnedBeforeMinor}
}

// IsNoLine reports whether err says the ledger has no line to explain.
func IsNoLine(err error) bool { return errors.Is(err, errNoLine) }

// WriteText prints the explanation for a terminal.
func (e Explanation) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "%s %s line %d (as of log position %d)\n", e.OEMID, e.InvoiceNumber, e.Line, e.Position)
	for _, c := range e.Credits {
		if err != nil {
			return err
		}
		partner := c.PartnerID
		if partner == "" {
			partner = "-"
		}
		adj := ""
		if c.Adjustment {
			adj = " (adjusts " + c.AdjustsQuarter + ")"
		}
		_, err = fmt.Fprintf(w, "\n#%d/%d %s %s to %s in %s%s, registration %q, policy v%d\n  reason: %s\n",
			c.Position, c.Seq, c.Kind, domain.Money{Amount: c.AmountMinor, Currency: c.Currency}.Major(), partner, c.Quarter, adj,
			c.RegistrationID, c.PolicyVersion, c.Reason)
		if err == nil && c.Arithmetic != "" {
			_, err = fmt.Fprintf(w, "  arithmetic: %s\n", c.Arithmetic)
		}
		if err == nil && c.Replaces != nil {
			_, err = fmt.Fprintf(w, "  replaces: row #%d/%d\n", c.Replaces.Position, c.Replaces.Seq)
		}
		if err == nil && c.BookedBy != nil {
			_, err = fmt.Fprintf(w, "  booked by: #%d %s %s\n", c.BookedBy.Position, c.BookedBy.Type, c.BookedBy.EventID)
		}
		for _, ev := range c.Events {
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(w, "  #%d %s %s at %s%s: %s\n", ev.Position, ev.Type, ev.EventID,
				ev.RecordedAt.UTC().Format(time.RFC3339), from(ev.Source), ev.Data)
		}
	}
	return err
}
