package domain_test

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"dealcredit/domain"
)

// atCap is an invoice of Globex dated day in currency with one client management line at
// domain.MaxAmountMinor; var-1's deal d-1 protects it once approved.
func atCap(number, day, currency string) domain.InvoiceReceived {
	inv := globexInvoice(number, day, line(1, domain.SegmentClientManagement, 1, domain.MaxAmountMinor))
	inv.Currency = currency
	return inv
}

// memoAtCap returns the whole line of invoice number.
func memoAtCap(number, day string) domain.InvoiceReceived {
	m := atCap("CM-"+number, day, "USD")
	m.Kind, m.CreditMemoFor = domain.KindCreditMemo, number
	return m
}

// The gross of a currency decides: while it is at most MaxGross every total is exact;
// the invoice that takes it past MaxGross overflows the currency's totals without an
// error, sticky, and no other currency is touched.
func TestTotalsOverflowOfOneCurrencyIsNoError(t *testing.T) {
	tl := newTimeline(t)
	tl.fold(enrolled("var-1", domain.TierGold), registered("d-1", "var-1", globex, domain.SegmentClientManagement),
		approved("d-1", "2026-11-02"))
	eur := atCap("EUR-1", "2026-11-15", "EUR")
	eur.Lines = []domain.InvoiceLine{line(1, domain.SegmentClientManagement, 1, 12_345)}
	tl.fold(eur)
	fits := int(domain.MaxGross / domain.MaxAmountMinor) // 4611 invoices at the cap
	for i := 0; i < fits; i++ {
		tl.fold(atCap(fmt.Sprintf("INV-%d", i), "2026-11-15", "USD"))
	}
	q := domain.MustQuarter("2026Q4")
	want := int64(fits) * domain.MaxAmountMinor
	if tl.p.Overflowed("USD") {
		t.Fatalf("USD overflowed at a gross of %d <= MaxGross %d", tl.p.Gross("USD"), int64(domain.MaxGross))
	}
	if got := tl.p.Credited("var-1", q, "USD").Amount; got != want {
		t.Fatalf("credited %d, want %d exactly", got, want)
	}
	if m := mixOf(tl.p, q, "USD"); m == nil || m.Indirect != want {
		t.Fatalf("USD mix %+v, want indirect %d", m, want)
	}
	// The next invoice at the cap takes the gross past MaxGross.
	o, err := tl.p.Apply(domain.Envelope{Position: tl.p.Position() + 1, EventID: "over", StreamID: "invoice-hp-over",
		Type: "invoice.received", Event: atCap("OVER", "2026-11-15", "USD")})
	if err != nil {
		t.Fatalf("apply the overflowing invoice: %v", err)
	}
	if o.Overflowed != "USD" || len(o.Credits) == 0 {
		t.Fatalf("outcome overflowed %q with %d credits, want USD and the line's credits", o.Overflowed, len(o.Credits))
	}
	// Sticky, for every quarter of the currency; later facts fold without an error.
	cs := tl.fold(atCap("LATER", "2027-01-15", "USD"), atCap("LATER-2", "2026-11-16", "USD"))
	if len(cs) == 0 {
		t.Fatal("no ledger lines for the invoices after the overflow")
	}
	for _, qq := range []string{"2026Q4", "2027Q1"} {
		if m := mixOf(tl.p, domain.MustQuarter(qq), "USD"); m != nil {
			t.Errorf("%s USD mix %+v kept after the overflow", qq, m)
		}
	}
	if got := tl.p.Credited("var-1", q, "USD").Amount; got != 0 {
		t.Errorf("credited USD %d kept after the overflow", got)
	}
	if got, want := fmt.Sprint(tl.p.OverflowedCurrencies()), "[USD]"; got != want {
		t.Errorf("overflowed %s, want %s", got, want)
	}
	if m := mixOf(tl.p, q, "EUR"); m == nil || m.Indirect != 12_345 || tl.p.Credited("var-1", q, "EUR").Amount != 12_345 {
		t.Errorf("EUR mix %+v credited %v, want 12345 each", m, tl.p.Credited("var-1", q, "EUR"))
	}
	// The stored core keeps the gross: a restarted fold agrees.
	r := domain.RestoreProgram(tl.p.Core())
	if !r.Overflowed("USD") || r.Overflowed("EUR") || r.Gross("EUR") != 12_345 {
		t.Errorf("restored: USD overflowed %v, EUR overflowed %v gross %d", r.Overflowed("USD"), r.Overflowed("EUR"), r.Gross("EUR"))
	}
}

func mixOf(p *domain.Program, q domain.Quarter, currency string) *domain.Mix {
	for _, m := range p.RevenueMix(q) {
		if m.Currency == currency {
			return &m
		}
	}
	return nil
}

// totalsState is what must not depend on the arrival order: the overflowed currencies,
// the gross, the revenue mix and var-1's credited revenue of 2026Q4.
func totalsState(p *domain.Program) string {
	q := domain.MustQuarter("2026Q4")
	return fmt.Sprintf("overflowed %v gross %d mix %+v credited %d", p.OverflowedCurrencies(), p.Gross("USD"), p.RevenueMix(q),
		p.Credited("var-1", q, "USD").Amount)
}

// The same invoices and credit memos near the bound, with the approval that re-attributes
// them, folded in many orders give the same totals: exact when the gross fits, overflowed
// when it does not, even when the final net fits and one order's running net would leave
// int64 (the old fold stopped on that order and not on another).
func TestTotalsSameFactsAnyOrderSameTotalsNearTheBound(t *testing.T) {
	cases := []struct {
		name              string
		invoices, memos   int
		overflowed        bool
		wantIndirectMinor int64
	}{
		// Gross 4,600 x 10^15 <= MaxGross: exact; net 3,400 x 10^15.
		{"gross fits", 4000, 600, false, 3400 * domain.MaxAmountMinor},
		// Gross 9,500 x 10^15 > MaxGross: overflowed in every order, though the final net
		// (9,100 x 10^15) fits int64 and an order with each memo right after its invoice
		// never has a running net past it.
		{"gross decides, not the running net", 9300, 200, true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			head := []domain.Event{enrolled("var-1", domain.TierGold), registered("d-1", "var-1", globex, domain.SegmentClientManagement)}
			var invs, memos []domain.Event
			for i := 0; i < tc.invoices; i++ {
				invs = append(invs, atCap(fmt.Sprintf("INV-%d", i), "2026-11-15", "USD"))
			}
			for i := 0; i < tc.memos; i++ {
				memos = append(memos, memoAtCap(fmt.Sprintf("INV-%d", i), "2026-11-20"))
			}
			appr := domain.Event(approved("d-1", "2026-11-02"))
			orders := map[string][]domain.Event{
				// The running net reaches invoices x 10^15 before any memo.
				"invoices, then memos, then the approval": concat(head, invs, memos, []domain.Event{appr}),
				// Each memo right after its invoice: the running net never passes the final one.
				"each memo after its invoice": concat(head, []domain.Event{appr}, interleave(invs, memos)),
				// Every memo before its invoice (it waits for it).
				"memos first": concat(head, memos, []domain.Event{appr}, invs),
			}
			for seed := int64(1); seed <= 3; seed++ {
				rest := concat(invs, memos, []domain.Event{appr})
				r := rand.New(rand.NewSource(seed))
				r.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
				orders[fmt.Sprintf("shuffle %d", seed)] = concat(head, rest)
			}
			if tc.overflowed && int64(tc.invoices) <= math.MaxInt64/domain.MaxAmountMinor {
				t.Fatal("the first order's running net must leave int64 for this case to mean anything")
			}
			var first, firstName string
			for name, evs := range orders {
				tl := newTimeline(t)
				tl.fold(evs...)
				got := totalsState(tl.p)
				if first == "" {
					first, firstName = got, name
					if tl.p.Overflowed("USD") != tc.overflowed {
						t.Fatalf("%s: overflowed %v, want %v (gross %d)", name, tl.p.Overflowed("USD"), tc.overflowed, tl.p.Gross("USD"))
					}
					m := mixOf(tl.p, domain.MustQuarter("2026Q4"), "USD")
					if !tc.overflowed && (m == nil || m.Indirect != tc.wantIndirectMinor) {
						t.Fatalf("%s: mix %+v, want indirect %d", name, m, tc.wantIndirectMinor)
					}
					continue
				}
				if got != first {
					t.Errorf("%s:\n%s\n%s:\n%s", firstName, first, name, got)
				}
			}
		})
	}
}

func concat(parts ...[]domain.Event) []domain.Event {
	var out []domain.Event
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// interleave puts memos[i] right after invs[i].
func interleave(invs, memos []domain.Event) []domain.Event {
	var out []domain.Event
	for i, e := range invs {
		out = append(out, e)
		if i < len(memos) {
			out = append(out, memos[i])
		}
	}
	return out
}
