package attribution

import (
	"context"
	"errors"
	"fmt"

	"dealcredit/domain"

	"github.com/jackc/pgx/v5"
)

// ExceptionRow is one row of the exception queue (the exceptions table).
type ExceptionRow struct {
	ExceptionID   string   `json:"exception_id"`
	OEMID         string   `json:"oem_id"`
	InvoiceNumber string   `json:"invoice_number"`
	Line          int      `json:"line"`
	Revision      int      `json:"revision"`
	CreditMemo    bool     `json:"credit_memo"`
	Customer      string   `json:"customer"`
	CustomerKey   string   `json:"customer_key"`
	Segment       string   `json:"segment"`
	InvoiceDate   string   `json:"invoice_date"`
	Quarter       string   `json:"quarter"`
	AmountMinor   int64    `json:"amount_minor"`
	Currency      string   `json:"currency"`
	Status        string   `json:"status"`
	Tried         []string `json:"tried"`
	ClaimedBy     string   `json:"claimed_by"`
	PartnerID     string   `json:"partner_id"`
	Reason        string   `json:"reason"`
	DecidedBy     string   `json:"decided_by"`
	EventIDs      []string `json:"event_ids"`
}

// ExceptionFilter selects exceptions; empty fields match everything.
// Customer matches a part of the customer's name, case-insensitively.
// VisibleTo, a partner id, narrows the queue to what that partner may see
// (docs/api.md, "Exceptions"): the open exceptions of customers it
// registered and the lines that went to it, without what was tried, the
// event ids, the reason and who decided. After is the exception_id of the
// last row of the previous page; Limit bounds the page (1..1000).
type ExceptionFilter struct {
	Status, OEMID, Quarter, PartnerID, Customer string
	VisibleTo                                   string
	After                                       string
	Limit                                       int
}

// exceptionColumns lists the exceptions' columns in scanException's order.
const exceptionColumns = `exception_id, oem_id, invoice_number, line, revision, credit_memo, customer, customer_key, segment,
	invoice_date, quarter, amount_minor, currency, status, tried, claimed_by, partner_id, reason, decided_by, event_ids`

// scanException scans a row of exceptionColumns, after the columns scanned
// into head (none when empty).
func scanException(head []any, row pgx.Row) (ExceptionRow, error) {
	var e ExceptionRow
	dest := []any{&e.ExceptionID, &e.OEMID, &e.InvoiceNumber, &e.Line, &e.Revision, &e.CreditMemo, &e.Customer, &e.CustomerKey,
		&e.Segment, &e.InvoiceDate, &e.Quarter, &e.AmountMinor, &e.Currency, &e.Status, &e.Tried, &e.ClaimedBy, &e.PartnerID,
		&e.Reason, &e.DecidedBy, &e.EventIDs}
	return e, row.Scan(append(head, dest...)...)
}

// Exceptions returns one page of the exceptions matching f, ordered by OEM,
// invoice number and line, and the position it reflects. One statement,
// one snapshot, whatever it finds: a one-row head (the checkpoint's
// position and whether After names an exception the caller may see,
// visibleTo) LEFT JOINed to the page, so that an empty page still has its
// position, and a wrong After (which matches no row) is an error naming the
// parameter rather than an empty page.
func (r *Reader) Exceptions(ctx context.Context, f ExceptionFilter) ([]ExceptionRow, int64, error) {
	out := []ExceptionRow{}
	limit := f.Limit
	if limit < 1 || limit > 1000 {
		limit = 100
	}
	rows, err := r.pool.Query(ctx, `WITH a AS (SELECT oem_id, invoice_number, line FROM `+r.table("exceptions")+`
			WHERE $7 <> '' AND exception_id = $7 AND `+r.visibleTo("$6")+`)
		SELECT h.*, e.* FROM (SELECT `+r.posColumn()+`, ($7 = '' OR EXISTS (SELECT 1 FROM a)) AS after_ok) h
		LEFT JOIN (SELECT `+exceptionColumns+` FROM `+r.table("exceptions")+`
			WHERE ($1 = '' OR status = $1) AND ($2 = '' OR oem_id = $2) AND ($3 = '' OR quarter = $3)
			AND ($4 = '' OR partner_id = $4) AND ($5 = '' OR strpos(lower(customer), lower($5)) > 0)
			AND ($6 = '' OR partner_id = $6 OR (status = 'open' AND NOT credit_memo AND customer_key IN
				(SELECT customer_key FROM `+r.table("registrations")+` WHERE partner_id = $6)))
			AND ($7 = '' OR (oem_id, invoice_number, line) > (SELECT oem_id, invoice_number, line FROM a))
			ORDER BY oem_id, invoice_number, line LIMIT $8) e ON true
		ORDER BY e.oem_id, e.invoice_number, e.line`,
		f.Status, f.OEMID, f.Quarter, f.PartnerID, f.Customer, f.VisibleTo, f.After, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("attribution: exceptions: %w", err)
	}
	defer rows.Close()
	var pos int64
	var afterOK bool
	head := []any{&pos, &afterOK}
	for rows.Next() {
		if rows.RawValues()[len(head)] == nil { // the head alone: no row
			if err := rows.Scan(append(head, make([]any, len(rows.RawValues())-len(head))...)...); err != nil {
				return nil, 0, fmt.Errorf("attribution: exceptions: %w", err)
			}
			continue
		}
		e, err := scanException(head, rows)
		if err != nil {
			return nil, 0, fmt.Errorf("attribution: exceptions: %w", err)
		}
		if f.VisibleTo != "" {
			e.Tried, e.EventIDs, e.Reason, e.DecidedBy = []string{}, []string{}, "", ""
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("attribution: exceptions: %w", err)
	}
	if !afterOK {
		return nil, 0, domain.Errorf(domain.Invalid, "after", "", "after %s is not an exception_id of this list: pass the next of the previous page, or leave after out for the first page", domain.Quote(f.After))
	}
	return out, pos, nil
}

// visibleTo is the SQL condition "the exception row may be seen by the
// partner $n" ($n empty: by anyone): one that went to it, or one of a
// customer it registered, whatever its status now.
func (r *Reader) visibleTo(n string) string {
	return `(` + n + ` = '' OR partner_id = ` + n + ` OR (NOT credit_memo AND customer_key IN
		(SELECT customer_key FROM ` + r.table("registrations") + ` WHERE partner_id = ` + n + `)))`
}

// Exception returns the exception with id; an unknown id is a *domain.Error
// with code NotFound.
func (r *Reader) Exception(ctx context.Context, id string) (ExceptionRow, error) {
	e, err := scanException(nil, r.pool.QueryRow(ctx, `SELECT `+exceptionColumns+` FROM `+r.table("exceptions")+` WHERE exception_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, domain.Errorf(domain.NotFound, "id", "", "exception %s not found", id)
	}
	if err != nil {
		return e, fmt.Errorf("attribution: exception %s: %w", id, err)
	}
	return e, nil
}
