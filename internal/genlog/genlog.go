// Package genlog generates a synthetic partner-program log for load tests
// and benchmarks: what `dealcredit gen log` appends and what the rebuild
// benchmark folds, so that a measured rebuild can be reproduced from the
// command line.
package genlog

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"dealcredit/domain"
	"dealcredit/eventstore"
)

// Partners is the number of partners a generated log enrolls.
const Partners = 20

// Options vary a generated log.
type Options struct {
	// LatePercent of the registrations (customers c with c % 100 < LatePercent) are
	// approved only after their customer's first invoice was recorded; the approval is
	// dated before the invoice, so the fold re-attributes the line when it arrives.
	LatePercent int
}

// EventsWith emits a log of n events (a few more when n is tiny) in order, in
// slices of any length. The mix: Partners Gold VARs in emea; one approved
// registration (2 events) per 20 events, each for its own customer;
// invoices (a software line and a maintenance line) cycling over 1.2 times
// the registered customers, so one in six matches no registration and
// opens an exception; a credit memo for every 7th invoice; the close of
// 2026Q1 half way through the invoices, after which documents are dated in
// 2026Q2 (so credit memos of Q1 invoices book adjustments). About 2.5 ledger
// lines per event. o varies the mix.
func EventsWith(n int, o Options, emit func(...domain.Event) error) error {
	count := 0
	out := func(evs ...domain.Event) error {
		count += len(evs)
		return emit(evs...)
	}
	for p := 0; p < Partners; p++ {
		if err := out(Enroll(fmt.Sprintf("var-%d", p))); err != nil {
			return err
		}
	}
	customers := max(n/20, 10)
	late := func(c int) bool { return c < customers && c%100 < o.LatePercent }
	pending := map[int]domain.Event{}
	for c := 0; c < customers; c++ {
		evs := RegisterAndApprove(fmt.Sprintf("d-%d", c), fmt.Sprintf("var-%d", c%Partners), Customer(c))
		if late(c) {
			pending[c], evs = evs[1], evs[:1]
		}
		if err := out(evs...); err != nil {
			return err
		}
	}
	closed := false
	for i := 0; count < n; i++ {
		day := "2026-02-14"
		if i > (n-count)/2+i/2 && !closed {
			if err := out(domain.QuarterClosed{Quarter: domain.MustQuarter("2026Q1"), ClosedOn: domain.MustDate("2026-04-02"), By: "fin"}); err != nil {
				return err
			}
			closed = true
		}
		if closed {
			day = "2026-04-20"
		}
		c := i % (customers + customers/5) // some customers have no registration: exceptions
		num := fmt.Sprintf("HP-%d", i)
		if err := out(Invoice(num, day, Customer(c), int64(10+i%90))); err != nil {
			return err
		}
		if a, ok := pending[c]; ok {
			delete(pending, c)
			if err := out(a); err != nil {
				return err
			}
		}
		if i%7 == 3 {
			if err := out(CreditMemo("CM-"+num, num, day, Customer(c), 5)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Append appends a generated log of n events to log, each event to its own
// stream, chunk units per transaction, and returns the position of the last
// one. Progress, when not nil, gets the number of events appended so far.
func Append(ctx context.Context, log eventstore.Appender, n, chunk int, progress func(int)) (int64, error) {
	return AppendWith(ctx, log, n, chunk, Options{}, progress)
}

// AppendWith is Append with options.
func AppendWith(ctx context.Context, log eventstore.Appender, n, chunk int, o Options, progress func(int)) (int64, error) {
	if chunk <= 0 {
		chunk = 200
	}
	var (
		units []eventstore.AppendRequest
		last  int64
		done  int
	)
	flush := func() error {
		if len(units) == 0 {
			return nil
		}
		res, err := log.AppendAtomic(ctx, units...)
		if err != nil {
			return fmt.Errorf("genlog: append: %w", err)
		}
		last = res[len(res)-1].LastPosition()
		done += len(units)
		units = units[:0]
		if progress != nil {
			progress(done)
		}
		return nil
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	err := EventsWith(n, o, func(evs ...domain.Event) error {
		for _, ev := range evs {
			typ, v, data, err := domain.Encode(ev)
			if err != nil {
				return fmt.Errorf("genlog: encode %T: %w", ev, err)
			}
			units = append(units, eventstore.AppendRequest{Stream: domain.StreamOf(ev), Expected: eventstore.Any,
				Events: []eventstore.Event{{ID: uuid.New(), Type: typ, SchemaVersion: v, Data: data, OccurredAt: at}}})
			if len(units) >= chunk {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return last, err
	}
	return last, flush()
}

// Customer returns generated customer i.
func Customer(i int) domain.Customer {
	return domain.Customer{OEMAccountID: fmt.Sprintf("C-%d", i), Name: fmt.Sprintf("Customer %d", i), Country: "US", Domain: fmt.Sprintf("c%d.example", i)}
}

// Enroll enrolls partner id as a Gold VAR in emea.
func Enroll(id string) domain.Event {
	return domain.PartnerEnrolled{PartnerID: id, Name: "Partner " + id, Kind: domain.KindVAR, Geography: "emea", Tier: domain.TierGold, EnrolledOn: domain.MustDate("2026-01-02")}
}

// RegisterAndApprove registers deal for partner and customer c (client
// management, 10,000.00 USD expected, HP) and approves it for 2026.
func RegisterAndApprove(deal, partner string, c domain.Customer) []domain.Event {
	return []domain.Event{
		domain.DealRegistered{DealID: deal, PartnerID: partner, Customer: c, CustomerKey: domain.CustomerKey(c), Geography: "emea",
			Segments: []domain.Segment{domain.SegmentClientManagement}, ExpectedValue: domain.Money{Amount: 1_000_000, Currency: "USD"},
			OEMID: "hp", RegisteredOn: domain.MustDate("2026-01-05")},
		domain.DealApproved{DealID: deal, ApprovedOn: domain.MustDate("2026-01-06"), ExpiresOn: domain.MustDate("2026-12-31"), PolicyVersion: 1, By: "cm"},
	}
}

// Invoice is HP invoice number (revision 1) dated day for customer c: qty
// client-management licences at 45.00 USD and one maintenance line of
// 100.00 USD.
func Invoice(number string, day string, c domain.Customer, qty int64) domain.InvoiceReceived {
	return domain.InvoiceReceived{OEMID: "hp", InvoiceNumber: number, Revision: 1, Kind: domain.KindInvoice,
		InvoiceDate: domain.MustDate(day), Currency: "USD", Customer: c,
		Lines: []domain.InvoiceLine{
			{Line: 1, SKU: "ALT-CMS-100", Segment: domain.SegmentClientManagement, Quantity: qty, UnitPriceMinor: 4500, AmountMinor: qty * 4500},
			{Line: 2, SKU: "ALT-MNT-1", Segment: domain.SegmentMaintenance, Quantity: 1, UnitPriceMinor: 10000, AmountMinor: 10000},
		}}
}

// CreditMemo is HP credit memo number for invoice forInvoice returning qty
// licences of its first line.
func CreditMemo(number, forInvoice, day string, c domain.Customer, qty int64) domain.InvoiceReceived {
	m := Invoice(number, day, c, qty)
	m.Kind, m.CreditMemoFor, m.Lines = domain.KindCreditMemo, forInvoice, m.Lines[:1]
	return m
}
