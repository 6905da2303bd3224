package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"dealcredit/api"
	"dealcredit/domain"
	"dealcredit/eventstore"
	"dealcredit/projections/attribution"
	"dealcredit/projections/runner"

	"github.com/google/uuid"
)

// mixFromModel serves the revenue mix from the real read model.
type mixFromModel struct {
	logQueries
	reader *attribution.Reader
}

func (q *mixFromModel) RevenueMix(ctx context.Context, quarter string) ([]attribution.Mix, int64, error) {
	return q.reader.RevenueMix(ctx, quarter)
}

// Two invoices in a log whose amounts sum past int64 (each past the 10^15 bound, so
// no entry accepts them; the same happens to ~9,300 accepted ones): the projection
// builds, and GET /v1/revenue-mix of their quarter answers 422 rule totals.overflowed
// naming the quarter and currency instead of numbers; another quarter answers as
// always.
func TestRevenueMixOfOverflowedTotalsIsAProblem(t *testing.T) {
	var deps api.Deps
	a := mustAPI(t, func(d *api.Deps) {
		d.Queries = &mixFromModel{logQueries{store: d.Store}, attribution.NewReader(d.Pool)}
		deps = *d
	})
	ctx := context.Background()
	c := domain.Customer{Name: "Huge Corp", Country: "US"}
	huge := func(n string, day string, amount int64) eventstore.AppendRequest {
		inv := domain.InvoiceReceived{OEMID: "hp", InvoiceNumber: n, Revision: 1, Kind: domain.KindInvoice,
			InvoiceDate: domain.MustDate(day), Currency: "USD", Customer: c,
			Lines: []domain.InvoiceLine{{Line: 1, SKU: "S", Segment: domain.SegmentMaintenance, Quantity: 1, UnitPriceMinor: amount, AmountMinor: amount}}}
		typ, v, data, err := domain.Encode(inv)
		if err != nil {
			t.Fatal(err)
		}
		return eventstore.AppendRequest{Stream: domain.StreamOf(inv), Expected: eventstore.Any, Events: []eventstore.Event{{
			ID: uuid.New(), Type: typ, SchemaVersion: v, Data: data, OccurredAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}}
	}
	if _, err := deps.Store.AppendAtomic(ctx, huge("HP-1", "2026-02-14", 1<<62), huge("HP-2", "2026-02-15", 1<<62)); err != nil {
		t.Fatal(err)
	}
	if _, err := deps.Store.AppendAtomic(ctx, huge("OK-1", "2025-11-14", 500)); err != nil {
		t.Fatal(err)
	}
	if err := runner.Rebuild(ctx, deps.Pool, deps.Store, attribution.New(), 1000, nil); err != nil {
		t.Fatal(err)
	}
	p := a.do(t, "GET", "/v1/revenue-mix?quarter=2026Q1", tokFinance, nil)
	if p.Status != 422 {
		t.Fatalf("revenue mix of 2026Q1: %d %s, want 422", p.Status, p.Body)
	}
	body := p.json(t)
	if body["rule"] != "totals.overflowed" || body["field"] != "quarter" ||
		!strings.Contains(body["detail"].(string), "the totals of 2026Q1 USD exceed what 64-bit minor units hold") {
		t.Errorf("problem %v", body)
	}
	// 2025Q4's USD invoice came before the overflow but is in the same currency: its
	// mix is not kept either.
	if p := a.do(t, "GET", "/v1/revenue-mix?quarter=2025Q4", tokFinance, nil); p.Status != 422 {
		t.Errorf("revenue mix of 2025Q4: %d %s, want 422", p.Status, p.Body)
	}
	// A quarter without lines of the currency answers as always.
	if p := a.do(t, "GET", "/v1/revenue-mix?quarter=2026Q2", tokFinance, nil); p.Status != 200 {
		t.Errorf("revenue mix of 2026Q2: %d %s, want 200", p.Status, p.Body)
	}
}
