package attribution_test

import (
	"fmt"
	"strings"
	"testing"

	"dealcredit/domain"
	"dealcredit/projections/attribution"
)

// TestBoundaryValuesProject: events built from the largest and strangest
// values the shared input checks accept (names of 256 four-byte characters,
// a 253-character domain, amounts and invoice totals of 10^15 minor units,
// revision 10^6, line number 10^5, dates at both ends of the window) are
// applied by the real runner to the real tables without stopping it, and
// the statement's sums are exact (issue 11: nothing accepted may fail to
// project; the two invoices whose credits passed 2^63 are now refused at the
// entry, see domain.TestInvoiceBounds).
func TestBoundaryValuesProject(t *testing.T) {
	e := newEnv(t)
	c := domain.Customer{OEMAccountID: strings.Repeat("k", domain.MaxRefLen), Name: strings.Repeat("𝔄", domain.MaxNameLen),
		Country: "AX", Domain: strings.Repeat("d", domain.MaxDomainLen-4) + ".com"}
	if err := domain.CheckCustomer("customer", c); err != nil {
		t.Fatal(err)
	}
	p := enroll("var-max").(domain.PartnerEnrolled)
	p.Name = strings.Repeat("👩‍💻", domain.MaxNameLen/3)
	evs := []domain.Event{p}
	deal := registerAndApprove("d-max", "var-max", c)
	reg := deal[0].(domain.DealRegistered)
	reg.ExpectedValue.Amount = domain.MaxAmountMinor
	evs = append(evs, reg, deal[1])
	const n, memos = 40, 10
	for i := 0; i < n; i++ {
		inv := invoice(fmt.Sprintf("HP-MAX-%d", i), "2026-02-14", c, 1)
		inv.Revision = domain.MaxRevision
		inv.Lines = []domain.InvoiceLine{{Line: domain.MaxLineNumber, SKU: strings.Repeat("S", domain.MaxRefLen), Segment: domain.SegmentClientManagement,
			Quantity: 1000, UnitPriceMinor: domain.MaxAmountMinor / 1000, AmountMinor: domain.MaxAmountMinor}}
		evs = append(evs, inv)
	}
	for i := 0; i < memos; i++ {
		m := creditMemo(fmt.Sprintf("HP-MAX-CM-%d", i), fmt.Sprintf("HP-MAX-%d", i), "2026-03-30", c, 1)
		m.Lines = []domain.InvoiceLine{{Line: domain.MaxLineNumber, SKU: "S", Segment: domain.SegmentClientManagement,
			Quantity: 500, UnitPriceMinor: domain.MaxAmountMinor / 1000, AmountMinor: domain.MaxAmountMinor / 2}}
		evs = append(evs, m)
	}
	for _, day := range []string{"2000-01-01", "2100-12-31"} {
		inv := invoice("HP-EDGE-"+day, day, c, 1)
		evs = append(evs, inv)
	}
	for _, ev := range evs {
		if inv, ok := ev.(domain.InvoiceReceived); ok {
			if err := inv.Validate(); err != nil {
				t.Fatalf("%s is not accepted: %v", inv.InvoiceNumber, err)
			}
		}
	}
	head := e.appendEvents(t, evs...)
	runUntil(t, e, head)
	st := statement(t, attribution.NewReader(e.pool), "var-max", "2026Q1")
	wantRevenue := int64(n)*domain.MaxAmountMinor - memos*domain.MaxAmountMinor/2
	if st.CreditedRevenue != wantRevenue || st.Rebates != domain.ApplyBPS(wantRevenue, 500) {
		t.Fatalf("statement %+v, want revenue %d and rebates %d", st, wantRevenue, domain.ApplyBPS(wantRevenue, 500))
	}
}
