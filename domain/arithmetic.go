package domain

import (
	"math/big"
	"strings"
)

// Arithmetic returns the computation that gave c's amount, in major units, for people:
// "3.33 USD x 8.00% = 0.2664 -> 0.27 USD, half away from zero, per line" for a rated
// credit, "4,500.00 USD, the line's amount in full" for a revenue credit, and for a
// clawback the cumulative formula (C x returned / line amount, less what earlier memos
// clawed back). A reversal row reads "reverses: " and the computation it undoes. It is ""
// when c carries no computation (Base and RateBPS 0).
func (c Credit) Arithmetic() string {
	if c.RateBPS == 0 && c.Base == 0 {
		return ""
	}
	cur := c.Amount.Currency
	m := func(v int64) string { return Money{v, cur}.Major() }
	gross := ApplyBPS(c.Base, c.RateBPS)
	var want int64
	var s string
	switch {
	case c.Returned > 0:
		after, before := clawback(gross, c.Returned, c.Base), clawback(gross, c.ReturnedBefore, c.Base)
		want = before - after
		s = "clawback: " + m(gross) + " x " + m(c.Returned) + " returned / " + m(c.Base) + " line = " + m(after) +
			" cumulative (half away from zero), less " + m(before) + " clawed back before: " + m(want)
	case c.RateBPS == BPSDenominator:
		want = gross
		s = m(c.Base) + ", the line's amount in full"
	default:
		want = gross
		s = RateArithmetic(Money{c.Base, cur}, c.RateBPS)
	}
	if c.Amount.Amount != want && c.Amount.Amount == -want {
		s = "reverses: " + s
	}
	return s
}

// RateArithmetic returns base x bps / 10000 as computed by ApplyBPS, exact then rounded:
// "3.33 USD x 8.00% = 0.2664 -> 0.27 USD, half away from zero, per line" ("1,235 JPY x
// 8.00% = 98.8 -> 99 JPY, ..." for a currency without minor units).
func RateArithmetic(base Money, bps int64) string {
	digits := max(MinorUnits(base.Currency), 0)
	exact := new(big.Int).Mul(big.NewInt(base.Amount), big.NewInt(bps))
	return base.Major() + " x " + decimal(big.NewInt(bps), 2, 2) + "% = " + decimal(exact, 4+digits, digits) + " -> " +
		Money{ApplyBPS(base.Amount, bps), base.Currency}.Major() + ", half away from zero, per line"
}

// decimal formats v / 10^scale exactly, with thousands separators and at least keep (at
// most scale) fraction digits.
func decimal(v *big.Int, scale, keep int) string {
	neg := v.Sign() < 0
	digits := new(big.Int).Abs(v).String()
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	whole, frac := digits[:len(digits)-scale], digits[len(digits)-scale:]
	for len(frac) > keep && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	s := groupThousands(whole)
	if frac != "" {
		s += "." + frac
	}
	if neg {
		s = "-" + s
	}
	return s
}

// groupThousands puts a comma between each group of three digits of whole.
func groupThousands(whole string) string {
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
