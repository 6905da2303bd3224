package attribution_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"dealcredit/domain"
	"dealcredit/projections/attribution"
)

// A closed quarter never changes, and neither does an approved statement (rule 22), not
// even when their currency's totals overflow later: 2026Q1 USD is closed and var-1's
// 2026Q2 statement approved before invoices of 2^60 in 2026Q3 overflow USD. Folded in
// batches of 1 and 1000, the tables are the same: 2026Q1's statement and revenue mix and
// var-1's 2026Q2 statement keep their exact figures and read as before; var-2's 2026Q2
// statement (not approved), 2026Q2's mix (the quarter is open) and 2026Q3 answer the
// overflow problem. Before, every USD statement and mix went, the closed ones too.
func TestOverflowKeepsFrozenTotals(t *testing.T) {
	big := func(n string) domain.InvoiceReceived {
		inv := invoice(n, "2026-08-14", acme, 1)
		inv.Lines = inv.Lines[:1]
		inv.Lines[0].UnitPriceMinor, inv.Lines[0].AmountMinor = 1<<60, 1<<60
		return inv
	}
	globex := domain.Customer{OEMAccountID: "C-9", Name: "Globex", Country: "US", Domain: "globex.example"}
	evs := []domain.Event{enroll("var-1"), enroll("var-2")}
	evs = append(evs, registerAndApprove("d-1", "var-1", acme)...)
	evs = append(evs, registerAndApprove("d-2", "var-2", globex)...)
	evs = append(evs,
		invoice("Q1-1", "2026-02-14", acme, 2),
		domain.QuarterClosed{Quarter: domain.MustQuarter("2026Q1"), ClosedOn: domain.MustDate("2026-04-02"), By: "finance"},
		invoice("Q2-1", "2026-05-14", acme, 3),
		invoice("Q2-2", "2026-05-15", globex, 4),
		domain.StatementApproved{PartnerID: "var-1", Quarter: domain.MustQuarter("2026Q2"), ApprovedOn: domain.MustDate("2026-07-02"), By: "finance"},
	)
	for i := range 5 {
		evs = append(evs, big(fmt.Sprintf("BIG-%d", i)))
	}
	ctx := context.Background()
	var want string
	for _, batch := range []int{1, 1000} {
		e := newEnv(t)
		runBatchesUntil(t, e, e.appendEvents(t, evs...), batch)
		got := totalsTables(t, e)
		if want == "" {
			want = got
			t.Logf("%s", got)
		} else if got != want {
			t.Errorf("batch %d:\n%s\nwant\n%s", batch, got, want)
		}
		rd := attribution.NewReader(e.pool)
		// 2 licences at 45.00 (gold, 500 bps) in 2026Q1, 3 in 2026Q2.
		for _, c := range []struct {
			quarter string
			revenue int64
		}{{"2026Q1", 9000}, {"2026Q2", 13500}} {
			ss, _, err := rd.Statements(ctx, "var-1", c.quarter)
			if err != nil || len(ss) != 1 || ss[0].Currency != "USD" || ss[0].CreditedRevenue != c.revenue || ss[0].Rebates != c.revenue/20 {
				t.Errorf("batch %d: var-1 %s statements %+v, %v; want USD %d revenue", batch, c.quarter, ss, err, c.revenue)
			}
		}
		if mix, _, err := rd.RevenueMix(ctx, "2026Q1"); err != nil || len(mix) != 1 || mix[0].IndirectMinor != 9000 {
			t.Errorf("batch %d: 2026Q1 mix %+v, %v; want USD indirect 9000", batch, mix, err)
		}
		for name, read := range map[string]func() error{
			"var-2 2026Q2 statements": func() error { _, _, err := rd.Statements(ctx, "var-2", "2026Q2"); return err },
			"var-1 2026Q3 statements": func() error { _, _, err := rd.Statements(ctx, "var-1", "2026Q3"); return err },
			"all statements":          func() error { _, _, err := rd.Statements(ctx, "", ""); return err },
			"2026Q2 mix":              func() error { _, _, err := rd.RevenueMix(ctx, "2026Q2"); return err },
			"2026Q3 mix":              func() error { _, _, err := rd.RevenueMix(ctx, "2026Q3"); return err },
		} {
			if err := read(); domain.ErrorCode(err) != domain.Unprocessable || !strings.Contains(err.Error(), "USD") {
				t.Errorf("batch %d: %s: %v, want the overflow problem", batch, name, err)
			}
		}
	}
	if !strings.Contains(want, "overflowed [USD]") {
		t.Fatalf("USD did not overflow:\n%s", want)
	}
}
