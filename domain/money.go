package domain

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Money is an amount in the minor unit of an ISO 4217 currency (cents for USD, yen for JPY).
type Money struct {
	Amount   int64  `json:"amount_minor"`
	Currency string `json:"currency"`
}

// String formats m as "450000 USD" (minor units, no decimal point, so it never rounds).
func (m Money) String() string { return fmt.Sprintf("%d %s", m.Amount, m.Currency) }

// Major formats m in major units with thousands separators and the
// currency's minor-unit digits, for people: "4,500.00 USD", "4,500 JPY",
// "-1.250 KWD". An unknown currency is formatted in minor units, as String.
func (m Money) Major() string {
	digits := MinorUnits(m.Currency)
	if digits < 0 {
		return m.String()
	}
	unit := uint64(1)
	for range digits {
		unit *= 10
	}
	abs := absU(m.Amount)
	whole := strconv.FormatUint(abs/unit, 10)
	var b strings.Builder
	if m.Amount < 0 {
		b.WriteByte('-')
	}
	b.WriteString(groupThousands(whole))
	if digits > 0 {
		fmt.Fprintf(&b, ".%0*d", digits, abs%unit)
	}
	return b.String() + " " + m.Currency
}

// majorOrNone is m.Major(), or "none" when m has no currency (a target never set).
func majorOrNone(m Money) string {
	if m.Currency == "" {
		return "none"
	}
	return m.Major()
}

// IsZero reports whether m has no amount and no currency.
func (m Money) IsZero() bool { return m.Amount == 0 && m.Currency == "" }

// currencies maps the ISO 4217 codes dealcredit accepts to their number of minor-unit digits.
var currencies = map[string]int{
	"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "CHF": 2, "CAD": 2, "AUD": 2, "NZD": 2,
	"SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2, "HUF": 2, "CNY": 2, "HKD": 2,
	"SGD": 2, "INR": 2, "KRW": 0, "BRL": 2, "MXN": 2, "ZAR": 2, "ILS": 2, "AED": 2,
	"SAR": 2, "TRY": 2, "TWD": 2, "THB": 2, "MYR": 2, "IDR": 2, "PHP": 2, "CLP": 0,
	"ISK": 0, "KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3, "TND": 3,
}

// ValidCurrency reports whether code is one of the ISO 4217 currencies dealcredit accepts
// (upper case, e.g. "USD").
func ValidCurrency(code string) bool {
	_, ok := currencies[code]
	return ok
}

// MinorUnits returns the number of decimal digits of code's minor unit (2 for USD, 0 for
// JPY, 3 for KWD), or -1 when code is not a valid currency.
func MinorUnits(code string) int {
	n, ok := currencies[code]
	if !ok {
		return -1
	}
	return n
}

// BPSDenominator is one whole in basis points: 10000 bps = 100%.
const BPSDenominator = 10000

// ApplyBPS returns amount x bps / 10000 rounded half away from zero (so 0.5 minor units
// becomes 1 and -0.5 becomes -1: a rebate and its reversal are exact negatives). The
// product is computed in 128 bits, so it cannot overflow for any int64 inputs; a result
// outside int64 saturates at math.MaxInt64 or math.MinInt64.
func ApplyBPS(amount int64, bps int64) int64 {
	return MulDiv(amount, bps, BPSDenominator)
}

// MulDiv returns a x b / d rounded half away from zero, computed in 128 bits. d must be
// positive (MulDiv panics otherwise: that is a programming error, never input). A result
// outside int64 saturates.
func MulDiv(a, b, d int64) int64 {
	if d <= 0 {
		panic("domain: MulDiv with non-positive divisor")
	}
	neg := (a < 0) != (b < 0)
	ua, ub := absU(a), absU(b)
	hi, lo := bits.Mul64(ua, ub)
	ud := uint64(d)
	if hi >= ud {
		return saturate(neg)
	}
	q, r := bits.Div64(hi, lo, ud)
	// Round half away from zero on the magnitude: r/d >= 1/2  <=>  2r >= d.
	if r >= ud-r {
		q++
	}
	if q > math.MaxInt64 {
		if neg && q == math.MaxInt64+1 {
			return math.MinInt64
		}
		return saturate(neg)
	}
	if neg {
		return -int64(q)
	}
	return int64(q)
}

func absU(v int64) uint64 {
	if v < 0 {
		return uint64(-(v + 1)) + 1
	}
	return uint64(v)
}

func saturate(neg bool) int64 {
	if neg {
		return math.MinInt64
	}
	return math.MaxInt64
}
