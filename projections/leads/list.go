package leads

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Filter selects leads; empty fields match every lead.
type Filter struct {
	// PartnerID keeps the leads offered to that partner.
	PartnerID string
	// Own shows the leads as PartnerID sees them: its own offers only, and
	// status "closed" once the lead went on without it.
	Own bool
	// Status is open, offered, accepted, unassigned (or closed, for Own).
	Status    string
	Geography string
	// Source is campaign or event.
	Source string
	// After is the last lead id of the previous page ("" for the first).
	After string
	// Limit is the page size (1-500).
	Limit int
}

// Offer is one offer of a lead.
type Offer struct {
	PartnerID string    `json:"partner_id"`
	Round     int       `json:"round"`
	Tier      string    `json:"tier"`
	OfferedAt time.Time `json:"offered_at"`
	Deadline  time.Time `json:"deadline"`
	// Outcome is offered, accepted, declined or expired.
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
}

// Lead is one lead of the list.
type Lead struct {
	LeadID     string    `json:"id"`
	Geography  string    `json:"geography"`
	Source     string    `json:"source"`
	SourceName string    `json:"source_name"`
	Customer   string    `json:"customer"`
	Status     string    `json:"status"`
	PartnerID  string    `json:"partner_id,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	Offers     []Offer   `json:"offers"`
}

// Page is one page of leads, by lead id; NextAfter is the after of the next
// page ("" on the last).
type Page struct {
	Leads     []Lead `json:"leads"`
	NextAfter string `json:"next_after,omitempty"`
}

// Leads reads one page of leads matching f.
func (r *Reader) Leads(ctx context.Context, f Filter) (Page, error) {
	leadsT, offersT := pgx.Identifier{r.schema, "leads"}.Sanitize(), pgx.Identifier{r.schema, "lead_offers"}.Sanitize()
	out := Page{Leads: []Lead{}}
	err := pgx.BeginTxFunc(ctx, r.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		// view is the status as the caller sees it: a partner's lead that
		// went on without it is closed.
		rows, err := tx.Query(ctx, `SELECT lead_id, geography, source, source_name, customer, view, partner_id, created_at FROM (
			SELECT l.*, CASE WHEN $1 AND NOT (l.partner_id = $2 AND l.status IN ('offered', 'accepted')) THEN 'closed' ELSE l.status END AS view
			FROM `+leadsT+` l
			WHERE ($2 = '' OR EXISTS (SELECT 1 FROM `+offersT+` o WHERE o.lead_id = l.lead_id AND o.partner_id = $2))
			  AND ($3 = '' OR l.geography = $3) AND ($4 = '' OR l.source = $4) AND l.lead_id > $5) v
			WHERE ($6 = '' OR view = $6) ORDER BY lead_id LIMIT $7`,
			f.Own, f.PartnerID, f.Geography, f.Source, f.After, f.Status, f.Limit+1)
		if err != nil {
			return err
		}
		var l Lead
		_, err = pgx.ForEachRow(rows, []any{&l.LeadID, &l.Geography, &l.Source, &l.SourceName, &l.Customer, &l.Status, &l.PartnerID, &l.CreatedAt}, func() error {
			if f.Own && l.Status == "closed" {
				l.PartnerID = "" // who has it now is not the partner's business
			}
			out.Leads = append(out.Leads, l)
			return nil
		})
		if err != nil {
			return err
		}
		if len(out.Leads) > f.Limit {
			out.Leads = out.Leads[:f.Limit]
			out.NextAfter = out.Leads[f.Limit-1].LeadID
		}
		ids := make([]string, len(out.Leads))
		at := map[string]int{}
		for i, l := range out.Leads {
			ids[i], at[l.LeadID] = l.LeadID, i
			out.Leads[i].Offers = []Offer{}
		}
		ownOnly := ""
		if f.Own {
			ownOnly = f.PartnerID
		}
		rows, err = tx.Query(ctx, `SELECT lead_id, partner_id, round, tier, offered_at, deadline, outcome, reason FROM `+offersT+`
			WHERE lead_id = ANY($1) AND ($2 = '' OR partner_id = $2) ORDER BY lead_id, round`, ids, ownOnly)
		if err != nil {
			return err
		}
		var id string
		var o Offer
		_, err = pgx.ForEachRow(rows, []any{&id, &o.PartnerID, &o.Round, &o.Tier, &o.OfferedAt, &o.Deadline, &o.Outcome, &o.Reason}, func() error {
			i := at[id]
			out.Leads[i].Offers = append(out.Leads[i].Offers, o)
			return nil
		})
		return err
	})
	if err != nil {
		return Page{}, fmt.Errorf("leads: list: %w", err)
	}
	return out, nil
}
