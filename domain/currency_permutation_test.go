package domain_test

import (
	"encoding/json"
	"fmt"
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
			const shuffles = 1500
			var want string
			var wantOrder []int
			failed, orders := 0, 0
			// Every order of the eight documents would be 40,320 folds a variant; the
			// identity, the reverse and seeded shuffles cover them well enough.
			r := rand.New(rand.NewSource(1))
			for k := 0; k < shuffles; k++ {
				order := r.Perm(len(docs))
				switch k {
				case 0:
					order = identity(len(docs))
				case 1:
					order = identity(len(docs))
					slices.Reverse(order)
				}
				orders++
				evs := append([]domain.Event(nil), prefix...)
				for _, i := range order {
					evs = append(evs, docs[i])
				}
				got := currencyOutcome(t, evs)
				if k == 0 {
					want, wantOrder = got, order
					continue
				}
				if got != want {
					if failed++; failed <= 2 {
						t.Errorf("documents in order %v differ from order %v:\n%s", order, wantOrder, firstDiff(want, got))
					}
				}
			}
			if failed > 0 {
				t.Errorf("%d of %d arrival orders differ", failed, orders)
			}
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
func currencyOutcome(tb testing.TB, evs []domain.Event) string {
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
	return figures(tl.credits) + "\n" + strings.Join(open, "\n")
}

// identity returns 0..n-1.
func identity(n int) []int {
	a := make([]int, n)
	for i := range a {
		a[i] = i
	}
	return a
}
