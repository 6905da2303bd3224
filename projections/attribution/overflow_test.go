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

// The same facts near the bound (invoices of 2^60 minor units, past the entry bound so
// that a few suffice; a credit memo; the approval that re-attributes what came before
// it), appended in different orders and folded in batches of 1 and 1000, leave the same
// statements, revenue mix and overflowed_totals (positions aside): exact sums when the
// gross fits, no USD row but its overflowed_totals row when it does not, whether the
// overflow came in the first batch, the last or alone.
func TestTotalsSameTablesAnyOrderAnyBatch(t *testing.T) {
	big := func(n, day string, amount int64) domain.InvoiceReceived {
		inv := invoice(n, day, acme, 1)
		inv.Lines[0].UnitPriceMinor, inv.Lines[0].AmountMinor = amount, amount
		return inv
	}
	memo := creditMemo("CM-1", "BIG-0", "2026-03-01", acme, 1)
	memo.Lines[0].UnitPriceMinor, memo.Lines[0].AmountMinor = 1<<60, 1<<60
	eur := big("EUR-1", "2026-02-10", 4500)
	eur.Currency = "EUR"
	reg := registerAndApprove("d-1", "var-1", acme)
	for _, tc := range []struct {
		name       string
		invoices   int
		overflowed string
	}{{"gross fits", 2, "[]"}, {"gross passes MaxGross", 5, "[USD]"}} {
		t.Run(tc.name, func(t *testing.T) {
			var facts []domain.Event
			for i := 0; i < tc.invoices; i++ {
				facts = append(facts, big(fmt.Sprintf("BIG-%d", i), "2026-02-14", 1<<60))
			}
			facts = append(facts, memo, eur, reg[1], big("SMALL-1", "2026-05-14", 9000))
			reversed := make([]domain.Event, len(facts))
			for i, e := range facts {
				reversed[len(facts)-1-i] = e
			}
			want := ""
			for _, order := range []struct {
				name  string
				facts []domain.Event
			}{{"forward", facts}, {"reversed", reversed}} {
				for _, batch := range []int{1, 1000} {
					e := newEnv(t)
					runBatchesUntil(t, e, e.appendEvents(t, append([]domain.Event{enroll("var-1"), reg[0]}, order.facts...)...), batch)
					got := totalsTables(t, e)
					if !strings.Contains(got, "overflowed "+tc.overflowed) {
						t.Fatalf("%s, batch %d: %s", order.name, batch, got)
					}
					if want == "" {
						want = got
						t.Logf("%s", got)
					} else if got != want {
						t.Errorf("%s, batch %d:\n%s\nwant\n%s", order.name, batch, got, want)
					}
				}
			}
		})
	}
}

// totalsTables dumps the statements' sums, the revenue mix and overflowed_totals.
func totalsTables(t *testing.T, e env) string {
	t.Helper()
	var stmts, mix, over string
	err := e.pool.QueryRow(context.Background(), `SELECT
		(SELECT coalesce(string_agg(concat_ws(' ', partner_id, quarter, currency, credited_revenue, rebates, service_credit,
			adjustment_revenue, adjustment_rebates, adjustment_service, scorecard_credited, eligible_tier), E'\n'
			ORDER BY partner_id, quarter, currency), '') FROM proj_attribution.statements),
		(SELECT coalesce(string_agg(concat_ws(' ', quarter, currency, direct_minor, indirect_minor, indirect_share_bps,
			adjustment_direct_minor, adjustment_indirect_minor), E'\n' ORDER BY quarter, currency), '') FROM proj_attribution.revenue_mix),
		(SELECT '[' || coalesce(string_agg(currency, ' ' ORDER BY currency), '') || ']' FROM proj_attribution.overflowed_totals)`).
		Scan(&stmts, &mix, &over)
	if err != nil {
		t.Fatal(err)
	}
	return "statements\n" + stmts + "\nmix\n" + mix + "\noverflowed " + over
}
