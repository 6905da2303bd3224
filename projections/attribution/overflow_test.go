package attribution_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"dealcredit/domain"
	"dealcredit/projections/attribution"
)

// 9,300 invoices at domain.MaxAmountMinor in 2026Q4 USD, each accepted, sum to more
// than int64 holds. Before, the projection stopped on them for good ("revenue mix 2026Q4
// USD: sum of amounts overflows"). Now it reaches the head: USD's totals overflowed
// (its gross passed domain.MaxGross), its statements and revenue mix are gone and a read
// of them answers a problem naming the quarter and currency; its ledger lines stay; the
// EUR figures of another quarter, folded after them, are exact.
func TestTotalsOverflowKeepsTheProjectionRunning(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const n = 9300
	eur := func(inv domain.InvoiceReceived) domain.InvoiceReceived { inv.Currency = "EUR"; return inv }
	evs := []domain.Event{enroll("var-1")}
	evs = append(evs, registerAndApprove("d-1", "var-1", acme)...)
	evs = append(evs, eur(invoice("EUR-0", "2026-11-14", acme, 3)))
	for i := 0; i < n; i++ {
		inv := invoice(fmt.Sprintf("HP-%d", i), "2026-11-14", acme, 1)
		inv.Lines = inv.Lines[:1]
		inv.Lines[0].UnitPriceMinor, inv.Lines[0].AmountMinor = domain.MaxAmountMinor, domain.MaxAmountMinor
		evs = append(evs, inv)
	}
	// After them: EUR in another quarter, USD in another quarter.
	evs = append(evs, eur(invoice("EUR-1", "2026-08-14", acme, 2)), invoice("USD-1", "2027-01-14", acme, 2))
	runBatchesUntil(t, e, e.appendEvents(t, evs...), 1000)

	rd := attribution.NewReader(e.pool)
	// The other quarter's statement and mix, exact (2 licences at 45.00, gold 500 bps).
	s := statement(t, rd, "var-1", "2026Q3")
	if s.Currency != "EUR" || s.CreditedRevenue != 9000 || s.Rebates != 450 {
		t.Errorf("2026Q3 statement %+v, want EUR 9000 revenue, 450 rebates", s)
	}
	mix, _, err := rd.RevenueMix(ctx, "2026Q3")
	if err != nil || len(mix) != 1 || mix[0].Currency != "EUR" || mix[0].IndirectMinor != 9000 || mix[0].DirectMinor != 10000 {
		t.Errorf("2026Q3 mix %+v, %v; want EUR indirect 9000, direct 10000", mix, err)
	}
	// The overflowed currency's reads answer the problem, for every quarter with its lines.
	for _, q := range []string{"2026Q4", "2027Q1"} {
		_, _, err := rd.RevenueMix(ctx, q)
		if domain.ErrorCode(err) != domain.Unprocessable || domain.ErrorField(err) != "quarter" || !strings.Contains(err.Error(), q+" USD") {
			t.Errorf("%s revenue mix: %v, want unprocessable naming %s USD", q, err, q)
		}
	}
	if _, _, err := rd.Statements(ctx, "var-1", "2026Q4"); domain.ErrorCode(err) != domain.Unprocessable ||
		!strings.Contains(err.Error(), "the totals of 2026Q4 USD exceed what 64-bit minor units hold") {
		t.Errorf("2026Q4 statements: %v, want unprocessable naming 2026Q4 USD", err)
	}
	if cs, err := rd.OverflowedTotals(ctx); err != nil || fmt.Sprint(cs) != "[USD]" {
		t.Errorf("overflowed totals %v, %v; want [USD]", cs, err)
	}
	var rows int
	if err := e.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM proj_attribution.statements WHERE currency = 'USD') +
		(SELECT count(*) FROM proj_attribution.revenue_mix WHERE currency = 'USD')`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("USD statement and mix rows %d, %v; want none", rows, err)
	}
	// The ledger lines stay: each invoice's revenue and rebate, and the maintenance-free
	// lines at the cap.
	lines := 0
	if _, err := rd.Ledger(ctx, "2026Q4", "var-1", func(l attribution.LedgerLine) error {
		if l.Currency == "USD" && l.Kind == "revenue" && l.AmountMinor == domain.MaxAmountMinor {
			lines++
		}
		return nil
	}); err != nil || lines != n {
		t.Errorf("2026Q4 USD revenue lines %d, %v; want %d", lines, err, n)
	}
}
