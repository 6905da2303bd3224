package attribution_test

import (
	"fmt"
	"strings"
	"testing"

	"dealcredit/domain"
)

// The fold's state is stored between batches, and a credit memo waiting for a line is
// part of it: an invoice whose revision 2 drops the line two memos return on and whose
// revision 3 brings it back, and a memo whose revision 2 drops a line its revision 1
// returned, appended in several orders and folded in batches of 1 and 1000, leave the
// same statements and revenue mix, with every clawback of the highest revisions counted
// (docs/rules.md rule 21).
func TestMemoLinesSameTablesAnyOrderAnyBatch(t *testing.T) {
	ln := func(n int, amount int64) domain.InvoiceLine {
		return domain.InvoiceLine{Line: n, SKU: "ALT-CMS-100", Segment: domain.SegmentClientManagement, Quantity: 1, UnitPriceMinor: amount, AmountMinor: amount}
	}
	rev := func(r int, lines ...domain.InvoiceLine) domain.Event {
		inv := invoice("INV-7", "2026-02-10", acme, 1)
		inv.Revision, inv.Lines = r, lines
		return inv
	}
	memo := func(number string, r int, lines ...domain.InvoiceLine) domain.Event {
		m := creditMemo(number, "INV-7", "2026-02-20", acme, 1)
		m.Revision, m.Lines = r, lines
		return m
	}
	docs := []domain.Event{
		rev(1, ln(1, 1_000_000), ln(2, 400_000)),
		rev(2, ln(1, 1_000_000)),
		rev(3, ln(1, 1_000_000), ln(2, 500_000), ln(3, 200_000)),
		memo("CM-A", 1, ln(1, 100_000), ln(2, 100_000)),
		memo("CM-A", 2, ln(2, 100_000), ln(3, 50_000)),
		memo("CM-B", 1, ln(2, 40_000)),
	}
	reg := registerAndApprove("d-1", "var-1", acme)
	var want, wantOrder string
	for _, order := range [][]int{{0, 1, 2, 3, 4, 5}, {5, 4, 3, 2, 1, 0}, {0, 3, 1, 4, 5, 2}, {3, 0, 5, 1, 2, 4}, {2, 4, 0, 3, 1, 5}} {
		facts := []domain.Event{enroll("var-1"), reg[0], reg[1]}
		for _, i := range order {
			facts = append(facts, docs[i])
		}
		for _, batch := range []int{1, 1000} {
			name := fmt.Sprintf("order %v batch %d", order, batch)
			e := newEnv(t)
			runBatchesUntil(t, e, e.appendEvents(t, facts...), batch)
			got := totalsTables(t, e)
			// 1,700,000 of revision 3 less CM-A revision 2 (100,000 + 50,000) and CM-B (40,000).
			if !strings.Contains(got, "var-1 2026Q1 USD 1510000 ") {
				t.Fatalf("%s: want 1,510,000 credited revenue in 2026Q1:\n%s", name, got)
			}
			if want == "" {
				want, wantOrder = got, name
			} else if got != want {
				t.Errorf("%s:\n%s\nwant (%s)\n%s", name, got, wantOrder, want)
			}
		}
	}
}
