package attribution

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
}

// ExplainedCredit is one ledger line of the invoice line and its events.
type ExplainedCredit struct {
	LedgerLine
	Events []ExplainedEvent `json:"events"`
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
		rows, err := tx.Query(ctx, `SELECT position, seq, oem_id, invoice_number, revision, line, kind, partner_id,
			registration_id, customer, segment, quarter, adjustment, adjusts_quarter, amount_minor, currency,
			policy_version, reason, event_ids FROM `+r.table("ledger")+`
			WHERE oem_id = $1 AND invoice_number = $2 AND line = $3 ORDER BY position, seq`, oemID, invoice, line)
		if err != nil {
			return fmt.Errorf("attribution: explain: %w", err)
		}
		for rows.Next() {
			var l LedgerLine
			if err := rows.Scan(&l.Position, &l.Seq, &l.OEMID, &l.InvoiceNumber, &l.Revision, &l.Line, &l.Kind, &l.PartnerID,
				&l.RegistrationID, &l.Customer, &l.Segment, &l.Quarter, &l.Adjustment, &l.AdjustsQuarter, &l.AmountMinor,
				&l.Currency, &l.PolicyVersion, &l.Reason, &l.EventIDs); err != nil {
				rows.Close()
				return fmt.Errorf("attribution: explain: %w", err)
			}
			ex.Credits = append(ex.Credits, ExplainedCredit{LedgerLine: l})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("attribution: explain: %w", err)
		}
		for i := range ex.Credits {
			c := &ex.Credits[i]
			rows, err := tx.Query(ctx, `SELECT position, event_id::text, type, stream_id, occurred_at, recorded_at, data::text
				FROM public.events WHERE event_id::text = ANY($1) ORDER BY position`, c.EventIDs)
			if err != nil {
				return fmt.Errorf("attribution: explain events: %w", err)
			}
			for rows.Next() {
				var e ExplainedEvent
				var data string
				if err := rows.Scan(&e.Position, &e.EventID, &e.Type, &e.StreamID, &e.OccurredAt, &e.RecordedAt, &data); err != nil {
					rows.Close()
					return fmt.Errorf("attribution: explain events: %w", err)
				}
				e.Data = json.RawMessage(data)
				c.Events = append(c.Events, e)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("attribution: explain events: %w", err)
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
		_, err = fmt.Fprintf(w, "\n%s %s to %s in %s%s, registration %q, policy v%d\n  reason: %s\n",
			c.Kind, domain.Money{Amount: c.AmountMinor, Currency: c.Currency}.Major(), partner, c.Quarter, adj, c.RegistrationID, c.PolicyVersion, c.Reason)
		for _, ev := range c.Events {
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(w, "  #%d %s %s at %s: %s\n", ev.Position, ev.Type, ev.EventID,
				ev.RecordedAt.UTC().Format(time.RFC3339), ev.Data)
		}
	}
	return err
}
