package domain

import (
	"math"
	"sort"
)

// The totals the read models keep (a partner's statement columns, a quarter's revenue
// mix and its total, the credited revenue of a scorecard, approved rebates, paid) are
// sums of amounts in one currency. A single amount is at most MaxAmountMinor, but enough
// of them leave int64; a projection must not stop on facts the log accepted, and the
// same facts must give the same results whatever order they arrive in. So the program
// keeps, per currency, the gross of its facts: the sum of |amount| of every invoice line
// (of every revision, credit memos too) and every payout in that currency.
//
// Why the gross decides. At any moment, and in every arrival order, a total of a
// currency is a signed sum over invoice lines of what each line books into it (its
// credit, less clawbacks, reversed before it is booked again), plus payouts. What one
// line books into one total is never more than the largest amount of its revisions
// (revenue, service, direct and unattributed credits are the line's amount, a rebate or
// a field rep's credit a rate of at most 10000 bps of it, clawbacks are capped at it),
// so every total, and every difference of two states of a total (the delta a batch
// adds to a stored row), is at most twice the gross in absolute value. While the gross
// is at most MaxGross no total can leave int64, in any order; the gross only grows and
// depends only on the set of facts, so whether a currency overflows does not depend on
// their order either. The gross is per currency, not per quarter: a late change of a
// closed quarter lands as an adjustment in a later quarter, and a credit memo's
// clawback in the quarter of the memo, so the lines behind a quarter's totals are not
// those of one quarter.

// MaxGross is the largest gross (sum of |amount| of a currency's invoice lines and
// payouts) whose totals the program keeps: half of int64, so that every total and every
// difference of two totals fits. Past it the currency's totals overflowed.
const MaxGross = math.MaxInt64 / 2

// invoiceGross returns the sum of |amount| of an invoice's lines, saturated at
// math.MaxInt64.
func invoiceGross(e InvoiceReceived) int64 {
	var g int64
	for _, l := range e.Lines {
		g = addSaturated(g, l.AmountMinor)
	}
	return g
}

// addSaturated returns a+|b| for a >= 0, or math.MaxInt64 when that leaves int64.
func addSaturated(a, b int64) int64 {
	if b < 0 {
		if b == math.MinInt64 {
			return math.MaxInt64
		}
		b = -b
	}
	if b > math.MaxInt64-a {
		return math.MaxInt64
	}
	return a + b
}

// addGross adds |amount| to the gross of currency and returns currency when that makes
// its totals overflow (else ""): the totals kept so far are dropped, but those of closed
// quarters and approved statements, which never change, and none is kept from here on.
func (p *Program) addGross(currency string, amount int64) string {
	g, was := p.totalsGross[currency], p.Overflowed(currency)
	if was {
		return ""
	}
	g = addSaturated(g, amount)
	if g <= MaxGross {
		if g != 0 {
			p.totalsGross[p.intern(currency)] = g
		}
		return ""
	}
	p.totalsGross[p.intern(currency)] = math.MaxInt64
	for k := range p.mix {
		if k.currency == currency && !p.closed[k.quarter] {
			delete(p.mix, k)
		}
	}
	for k := range p.credited {
		if k.currency == currency && !p.StatementFrozen(k.partner, k.quarter) {
			delete(p.credited, k)
		}
	}
	return currency
}

// StatementFrozen reports whether partner's statement of quarter q can no longer change:
// the quarter is closed or the statement approved (rule 22). Such totals are kept when
// their currency overflows; nothing is booked into them afterwards.
func (p *Program) StatementFrozen(partner string, q Quarter) bool {
	return p.closed[q] || p.approved[partner][q]
}

// Overflowed reports whether the totals of currency overflowed: the gross of its facts
// passed MaxGross, so the program keeps none of its totals but those frozen before
// (closed quarters' revenue mix, frozen statements' credited revenue) and the read
// models show no others; its ledger lines are kept.
func (p *Program) Overflowed(currency string) bool { return p.totalsGross[currency] > MaxGross }

// OverflowedCurrencies returns the currencies whose totals overflowed, sorted.
func (p *Program) OverflowedCurrencies() []string {
	var out []string
	for c, g := range p.totalsGross {
		if g > MaxGross {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out
}

// Gross returns the gross of currency: the sum of |amount| of its invoice lines and
// payouts folded so far (math.MaxInt64 once its totals overflowed).
func (p *Program) Gross(currency string) int64 { return p.totalsGross[currency] }

// StatementRef names one partner's statement of a quarter.
type StatementRef struct {
	PartnerID string
	Quarter   Quarter
}

// Frozen returns the totals that can no longer change, which an overflow keeps: the
// closed quarters and the approved statements of the other quarters, in no particular
// order.
func (p *Program) Frozen() (closed []Quarter, approved []StatementRef) {
	for q := range p.closed {
		closed = append(closed, q)
	}
	for id, qs := range p.approved {
		for q := range qs {
			if !p.closed[q] {
				approved = append(approved, StatementRef{id, q})
			}
		}
	}
	return closed, approved
}
