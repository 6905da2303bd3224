package domain_test

import (
	"encoding/json"
	"fmt"
	"iter"
	"math/rand"
	"slices"
	"sort"
	"strings"
	"testing"

	"dealcredit/domain"
)

// The currency permutation property: an invoice is what its highest revision says, its
// currency included, so the revisions of one invoice in different currencies, credit
// memos in either currency (one revised into another currency) and an unrelated invoice
// give the same credits per line and per (partner, quarter, currency), and the same
// exceptions left open, in every arrival order (1,500 of the 40,320 orders of the eight
// documents a variant, the causal and the reverse one among them).
// Before, a revision in another currency than the one folded first was refused, so the
// credits followed whichever revision arrived first.
func TestPropertyRevisionCurrenciesAnyArrivalOrderSameCredits(t *testing.T) {
	for _, currencies := range [][3]string{
		{"USD", "EUR", "USD"},
		{"USD", "EUR", "EUR"},
		{"USD", "USD", "EUR"},
		{"EUR", "USD", "JPY"},
	} {
		t.Run(strings.Join(currencies[:], "-"), func(t *testing.T) {
			prefix, docs := currencyFacts(currencies)
			// Every order of the eight documents would be 40,320 folds a variant; the
			// identity, the reverse and seeded shuffles cover them well enough.
			orders := func(yield func([]int) bool) {
				r := rand.New(rand.NewSource(1))
				reverse := identity(len(docs))
				slices.Reverse(reverse)
				if !yield(identity(len(docs))) || !yield(reverse) {
					return
				}
				for k := 2; k < 1500; k++ {
					if !yield(r.Perm(len(docs))) {
						return
					}
				}
			}
			want := sameOutcomeInEveryOrder(t, prefix, docs, orders, nil)
			if !strings.Contains(want, "INV-5/1") || !strings.Contains(want, "INV-6/1") {
				t.Fatalf("the outcome credits neither invoice:\n%s", want)
			}
		})
	}
}

// currencyFacts returns the facts folded first (a gold partner whose approved deal
// protects the customer) and the documents whose arrival order varies: revisions 1 to 3
// of INV-5 in the given currencies (revision 3 brings a line 3), a credit memo in USD
// (lines 1 and 3), one in EUR (lines 1 and 2), one revised from USD to EUR (line 2), and
// an unrelated invoice INV-6 in USD.
func currencyFacts(cur [3]string) ([]domain.Event, []domain.Event) {
	seg := domain.SegmentClientManagement
	prefix := []domain.Event{enrolled("var-1", domain.TierGold), registered("d-1", "var-1", globex, seg), approved("d-1", "2026-11-20")}
	ln := func(n int, amount int64) domain.InvoiceLine {
		return domain.InvoiceLine{Line: n, SKU: "ALT-CMS-100", Segment: seg, Quantity: 1, UnitPriceMinor: amount, AmountMinor: amount}
	}
	doc := func(number string, rev int, currency, day string, lines ...domain.InvoiceLine) domain.InvoiceReceived {
		inv := globexInvoice(number, day, lines...)
		inv.Revision, inv.Currency = rev, currency
		return inv
	}
	memo := func(number string, rev int, currency, day string, lines ...domain.InvoiceLine) domain.InvoiceReceived {
		m := doc(number, rev, currency, day, lines...)
		m.Kind, m.CreditMemoFor = domain.KindCreditMemo, "INV-5"
		return m
	}
	docs := []domain.Event{
		doc("INV-5", 1, cur[0], "2026-11-25", ln(1, 1_000_000), ln(2, 400_000)),
		doc("INV-5", 2, cur[1], "2026-11-25", ln(1, 900_000), ln(2, 300_000)),
		doc("INV-5", 3, cur[2], "2026-11-26", ln(1, 800_000), ln(2, 400_000), ln(3, 100_000)),
		memo("CM-U", 1, "USD", "2026-12-02", ln(1, 200_000), ln(3, 50_000)),
		memo("CM-E", 1, "EUR", "2026-12-03", ln(1, 100_000), ln(2, 50_000)),
		memo("CM-X", 1, "USD", "2026-12-04", ln(2, 100_000)),
		memo("CM-X", 2, "EUR", "2026-12-04", ln(2, 150_000)),
		doc("INV-6", 1, "USD", "2026-11-27", ln(1, 300_000)),
	}
	return prefix, docs
}

// currencyOutcome folds evs and renders what must not depend on their order: the credit
// figures and every exception left open (the last one of each invoice or memo line whose
// status is open, waiting or refused), with the program's open exceptions.
func currencyOutcome(tb testing.TB, evs []domain.Event) (string, []domain.Credit) {
	tb.Helper()
	tl := newTimeline(tb)
	tl.fold(evs...)
	last := map[string]domain.Exception{}
	for _, e := range tl.excs {
		last[fmt.Sprintf("%s/%s/%d", e.OEMID, e.InvoiceNumber, e.Line)] = e
	}
	var open []string
	for k, e := range last {
		if e.Status == "open" || e.Status == "waiting" || e.Status == "refused" {
			j, _ := json.Marshal(e)
			open = append(open, "exception "+k+" "+string(j))
		}
	}
	for _, e := range tl.p.OpenExceptions() {
		j, _ := json.Marshal(e)
		open = append(open, "program exception "+string(j))
	}
	sort.Strings(open)
	return figures(tl.credits) + "\n" + strings.Join(open, "\n"), tl.credits
}

// identity returns 0..n-1.
func identity(n int) []int {
	a := make([]int, n)
	for i := range a {
		a[i] = i
	}
	return a
}

// A credit memo on a line that a revision drops waits for a revision that brings the line
// back, as a memo on a line the invoice never had does, and a credit memo is what its
// highest revision says: in every arrival order of the documents (all of them: 120 or
// 720), the same credits and the same exceptions left open.
//   - "brought back": the highest revision has the line again, so both memos' clawbacks
//     count. Before, a memo applied before the drop was lost with the line.
//   - "dropped for good": it has not, so the line-2 clawbacks wait in every order.
//   - "memo revised": a memo's second revision drops a line its first returned and adds
//     one, while the invoice drops and brings back a line. Before, the first revision's
//     return on the dropped line stayed when the first revision came before the second.
func TestPropertyMemoLinesDroppedAndBroughtBackAnyArrivalOrder(t *testing.T) {
	seg := domain.SegmentClientManagement
	ln := func(n int, amount int64) domain.InvoiceLine {
		return domain.InvoiceLine{Line: n, SKU: "ALT-CMS-100", Segment: seg, Quantity: 1, UnitPriceMinor: amount, AmountMinor: amount}
	}
	rev := func(r int, lines ...domain.InvoiceLine) domain.Event {
		inv := globexInvoice("INV-7", "2026-11-25", lines...)
		inv.Revision = r
		return inv
	}
	memo := func(number string, r int, lines ...domain.InvoiceLine) domain.Event {
		m := globexInvoice(number, "2026-12-02", lines...)
		m.Kind, m.CreditMemoFor, m.Revision = domain.KindCreditMemo, "INV-7", r
		return m
	}
	cmA, cmB := memo("CM-A", 1, ln(2, 100_000)), memo("CM-B", 1, ln(1, 50_000), ln(2, 40_000))
	prefix := []domain.Event{enrolled("var-1", domain.TierGold), registered("d-1", "var-1", globex, seg), approved("d-1", "2026-11-20")}
	for _, tc := range []struct {
		name string
		docs []domain.Event
		// revenue is var-1's net revenue credit on INV-7 in every order.
		revenue int64
	}{
		{"brought back", []domain.Event{rev(1, ln(1, 1_000_000), ln(2, 400_000)), rev(2, ln(1, 1_000_000)), rev(3, ln(1, 1_000_000), ln(2, 500_000)), cmA, cmB},
			1_000_000 + 500_000 - 50_000 - 100_000 - 40_000},
		{"dropped for good", []domain.Event{rev(1, ln(1, 1_000_000), ln(2, 400_000)), rev(2, ln(1, 1_000_000), ln(2, 400_000)), rev(3, ln(1, 1_000_000)), cmA, cmB},
			1_000_000 - 50_000},
		{"memo revised", []domain.Event{rev(1, ln(1, 1_000_000), ln(2, 400_000)), rev(2, ln(1, 1_000_000)), rev(3, ln(1, 1_000_000), ln(2, 500_000), ln(3, 200_000)),
			memo("CM-A", 1, ln(1, 100_000), ln(2, 100_000)), memo("CM-A", 2, ln(2, 100_000), ln(3, 50_000)), memo("CM-B", 1, ln(2, 40_000))},
			1_700_000 - 100_000 - 50_000 - 40_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sameOutcomeInEveryOrder(t, prefix, tc.docs, permutations(len(tc.docs)), func(cs []domain.Credit) error {
				if got := net(cs, "INV-7", domain.CreditRevenue, "var-1"); got != tc.revenue {
					return fmt.Errorf("revenue %d, want %d", got, tc.revenue)
				}
				return nil
			})
		})
	}
}

// sameOutcomeInEveryOrder folds prefix then docs in each of orders and fails t when an
// order's outcome (currencyOutcome) differs from the first order's, or check (when not
// nil) finds fault with its credits. It returns the first order's outcome.
func sameOutcomeInEveryOrder(t *testing.T, prefix, docs []domain.Event, orders iter.Seq[[]int], check func([]domain.Credit) error) string {
	t.Helper()
	var want string
	var wantOrder []int
	failed, n := 0, 0
	for order := range orders {
		n++
		evs := slices.Clone(prefix)
		for _, i := range order {
			evs = append(evs, docs[i])
		}
		got, credits := currencyOutcome(t, evs)
		var err error
		if check != nil {
			err = check(credits)
		}
		switch {
		case err != nil:
			failed++
			if failed <= 2 {
				t.Errorf("documents in order %v: %v", order, err)
			}
		case n == 1:
			want, wantOrder = got, order
		case got != want:
			failed++
			if failed <= 2 {
				t.Errorf("documents in order %v differ from order %v:\n%s", order, wantOrder, firstDiff(want, got))
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d arrival orders differ", failed, n)
	}
	return want
}

// permutations yields every permutation of 0..n-1 (Heap's algorithm).
func permutations(n int) func(yield func([]int) bool) {
	return func(yield func([]int) bool) {
		a := identity(n)
		c := make([]int, n)
		if !yield(slices.Clone(a)) {
			return
		}
		for i := 0; i < n; {
			if c[i] < i {
				if i%2 == 0 {
					a[0], a[i] = a[i], a[0]
				} else {
					a[c[i]], a[i] = a[i], a[c[i]]
				}
				if !yield(slices.Clone(a)) {
					return
				}
				c[i]++
				i = 0
			} else {
				c[i] = 0
				i++
			}
		}
	}
}
