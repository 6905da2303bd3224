package domain

import (
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"
)

// FXPeriod is how long a recorded exchange rate holds: one day, or one calendar month.
type FXPeriod string

// FX periods.
const (
	FXDay   FXPeriod = "day"
	FXMonth FXPeriod = "month"
)

// Rate limits: at most MaxRateScale decimal places, at most MaxRateWhole in whole units.
const (
	MaxRateScale = 12
	MaxRateWhole = 1_000_000
)

// Rate is an exchange rate as an exact decimal: Units / 10^Scale units of the target
// currency per one major unit of the source currency ("1.0842": 10842 / 10^4).
type Rate struct {
	Units int64
	Scale int
}

// ParseRate parses an exact positive decimal rate such as "1.0842" or "151": digits with
// at most one '.', at most MaxRateScale decimals, greater than zero and at most
// MaxRateWhole. No sign, exponent or spaces: a rate is never a float.
func ParseRate(field, s string) (Rate, error) {
	whole, frac, dot := strings.Cut(s, ".")
	switch {
	case s == "":
		return Rate{}, invalidf(field, "%s is required, an exact decimal like \"1.0842\"", field)
	case whole == "" || !allDigits(whole) || (dot && (frac == "" || !allDigits(frac))):
		return Rate{}, invalidf(field, "%s %s is not an exact decimal like \"1.0842\"", field, Quote(s))
	case len(frac) > MaxRateScale:
		return Rate{}, invalidf(field, "%s %s has more than %d decimal places", field, Quote(s), MaxRateScale)
	case len(strings.TrimLeft(whole, "0")) > 7:
		return Rate{}, invalidf(field, "%s %s is more than %d", field, Quote(s), MaxRateWhole)
	}
	var r Rate
	for _, c := range whole + frac {
		r.Units = r.Units*10 + int64(c-'0') // at most 7+12 digits: fits in int64
	}
	r.Scale = len(frac)
	r = r.normal()
	switch {
	case r.Units == 0:
		return Rate{}, invalidf(field, "%s must be greater than zero, got %s", field, Quote(s))
	case r.Units > MaxRateWhole*pow10(r.Scale):
		return Rate{}, invalidf(field, "%s %s is more than %d", field, Quote(s), MaxRateWhole)
	}
	return r, nil
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// normal drops trailing zero decimals ("1.50" is "1.5").
func (r Rate) normal() Rate {
	for r.Scale > 0 && r.Units%10 == 0 {
		r.Units /= 10
		r.Scale--
	}
	return r
}

// String is the canonical decimal form ("1.0842", "151").
func (r Rate) String() string {
	p := pow10(r.Scale)
	if r.Scale == 0 {
		return fmt.Sprint(r.Units)
	}
	return fmt.Sprintf("%d.%0*d", r.Units/p, r.Scale, r.Units%p)
}

// MaxConvertedMinor bounds a converted figure (docs/finance.md): a report converts sums
// of amounts (a quarter's mix, a partner's credited revenue), which may pass one amount's
// MaxAmountMinor; the converted rows are then summed with AddAmounts (overflow-checked).
const MaxConvertedMinor = 1_000_000_000_000_000_000

// Convert returns m in currency to at rate r (units of to per major unit of m's
// currency): amount x rate x 10^(minor digits of to - minor digits of m's currency),
// rounded half to even on to's minor unit, computed exactly. A result beyond
// MaxConvertedMinor is an Invalid *Error (field "amount"), never a saturated figure.
func Convert(m Money, to string, r Rate) (Money, error) {
	fromDigits, toDigits := MinorUnits(m.Currency), MinorUnits(to)
	if fromDigits < 0 || toDigits < 0 {
		return Money{}, invalidf("currency", "cannot convert %s to %s: unknown currency", Quote(m.Currency), Quote(to))
	}
	if r.Units <= 0 || r.Scale < 0 {
		return Money{}, invalidf("rate", "rate must be greater than zero")
	}
	num := new(big.Int).Mul(big.NewInt(m.Amount), big.NewInt(r.Units))
	den := big.NewInt(pow10(r.Scale))
	if d := toDigits - fromDigits; d > 0 {
		num.Mul(num, big.NewInt(pow10(d)))
	} else if d < 0 {
		den.Mul(den, big.NewInt(pow10(-d)))
	}
	q, rem := new(big.Int).QuoRem(num, den, new(big.Int)) // truncated towards zero
	// Half to even on the magnitude: |rem| x 2 against den.
	twice := new(big.Int).Abs(rem)
	twice.Lsh(twice, 1)
	if c := twice.Cmp(den); c > 0 || (c == 0 && q.Bit(0) == 1) {
		q.Add(q, big.NewInt(int64(num.Sign())))
	}
	if !q.IsInt64() || q.Int64() > MaxConvertedMinor || q.Int64() < -MaxConvertedMinor {
		return Money{}, invalidf("amount", "%s at %s is beyond %d minor units of %s", m, r, int64(MaxConvertedMinor), to)
	}
	return Money{Amount: q.Int64(), Currency: to}, nil
}

// FXRateSet: finance recorded the rate of one currency pair for a day or a month, from a
// stated source ("fx.rate_set"). The first record of a pair, period and date is revision
// 1; an explicit correction (Corrects names the rate it replaces) is the next revision.
// The record in force is the highest revision, whatever order the records arrive in.
type FXRateSet struct {
	From        string   `json:"from"`
	To          string   `json:"to"`
	Rate        string   `json:"rate"` // canonical exact decimal, units of To per major unit of From
	Period      FXPeriod `json:"period"`
	EffectiveOn Date     `json:"effective_on"` // the day, or the first day of the month
	Source      string   `json:"source"`
	Reason      string   `json:"reason,omitempty"`
	// Revision counts the records of this pair, period and date (1 for the first); records
	// written before revisions existed have none and count as 1.
	Revision int `json:"revision,omitempty"`
	// Corrects is the rate this record replaces (empty for the first record).
	Corrects string `json:"corrects,omitempty"`
}

// rev is r's revision, 1 for a record written without one.
func (r FXRateSet) rev() int { return max(r.Revision, 1) }

// supersedes reports whether r wins over o for the same pair, period and date: the higher
// revision; between equal revisions (only records written before revisions existed can
// tie) the greater rate, then source, then reason, so that the choice never depends on
// arrival order.
func (r FXRateSet) supersedes(o FXRateSet) bool {
	if r.rev() != o.rev() {
		return r.rev() > o.rev()
	}
	if c := compareRates(r.Rate, o.Rate); c != 0 {
		return c > 0
	}
	if r.Source != o.Source {
		return r.Source > o.Source
	}
	return r.Reason > o.Reason
}

// compareRates compares two canonical decimal rates by value (strings that do not
// parse compare as text, after every rate that does).
func compareRates(a, b string) int {
	ra, errA := ParseRate("rate", a)
	rb, errB := ParseRate("rate", b)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	scale := max(ra.Scale, rb.Scale)
	x := new(big.Int).Mul(big.NewInt(ra.Units), big.NewInt(pow10(scale-ra.Scale)))
	y := new(big.Int).Mul(big.NewInt(rb.Units), big.NewInt(pow10(scale-rb.Scale)))
	return x.Cmp(y)
}

// EventType implements Event.
func (FXRateSet) EventType() string { return "fx.rate_set" }

// FXStream returns "fx-rates", the one stream of recorded exchange rates.
func FXStream() string { return "fx-rates" }

type fxKey struct {
	from, to string
	period   FXPeriod
	on       Date
}

// FXRates is every recorded rate, folded from the fx stream: the record in force of each
// pair, period and date (the highest revision, see FXRateSet.supersedes).
type FXRates struct {
	rates map[fxKey]FXRateSet
}

// EvolveFX folds an fx event.
func EvolveFX(s FXRates, e Event) FXRates {
	r, ok := e.(FXRateSet)
	if !ok {
		return s
	}
	next := make(map[fxKey]FXRateSet, len(s.rates)+1)
	for k, v := range s.rates {
		next[k] = v
	}
	k := fxKey{r.From, r.To, r.Period, r.EffectiveOn}
	if cur, ok := next[k]; !ok || r.supersedes(cur) {
		next[k] = r
	}
	return FXRates{rates: next}
}

// List returns every recorded rate sorted by pair, date and period.
func (s FXRates) List() []FXRateSet {
	out := make([]FXRateSet, 0, len(s.rates))
	for _, v := range s.rates {
		out = append(out, v)
	}
	sortFX(out)
	return out
}

func sortFX(rs []FXRateSet) {
	sort.Slice(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if a.From+a.To != b.From+b.To {
			return a.From+a.To < b.From+b.To
		}
		if c := a.EffectiveOn.Compare(b.EffectiveOn); c != 0 {
			return c < 0
		}
		return a.Period < b.Period
	})
}

// On returns the rate from -> to for business date d: the day rate recorded for d, else
// the month rate of d's month. There is no other fallback (no earlier day, no inverse,
// no cross rate): a missing rate is reported, never guessed.
func (s FXRates) On(from, to string, d Date) (FXRateSet, bool) {
	if r, ok := s.rates[fxKey{from, to, FXDay, d}]; ok {
		return r, true
	}
	r, ok := s.rates[fxKey{from, to, FXMonth, monthStart(d)}]
	return r, ok
}

func monthStart(d Date) Date {
	t := d.Time()
	return NewDate(t.Year(), t.Month(), 1)
}

// SetFXRate is the command to record an exchange rate.
type SetFXRate struct {
	From, To    string
	Rate        string
	Period      FXPeriod
	EffectiveOn Date
	Source      string
	Reason      string
	// Corrects is the rate recorded for the pair, period and date that this one
	// replaces: required to change a rate already recorded, empty otherwise.
	Corrects string
}

// DecideSetFXRate validates a rate and records it. A month rate is dated on the first of
// its month (any date in the month names it). A rate cannot take effect after today: a
// rate is an observed fact, not a forecast. Recording the same rate and source again
// appends nothing. A different rate or source for a pair, period and date already
// recorded is a conflict (fx.rate_recorded, naming the recorded one) unless Corrects
// names the recorded rate: then it is recorded as the next revision.
func DecideSetFXRate(s FXRates, c SetFXRate, now time.Time) ([]Event, error) {
	today := DateOf(now)
	for _, f := range []struct{ name, code string }{{"from", c.From}, {"to", c.To}} {
		if !ValidCurrency(f.code) {
			return nil, invalidf(f.name, "%s %s is not a currency dealcredit accepts (ISO 4217, upper case)", f.name, Quote(f.code))
		}
	}
	if c.From == c.To {
		return nil, invalidf("to", "to must differ from from (%s)", c.From)
	}
	rate, err := ParseRate("rate", c.Rate)
	if err != nil {
		return nil, err
	}
	if c.Period != FXDay && c.Period != FXMonth {
		return nil, invalidf("period", "period must be day or month, got %s", Quote(string(c.Period)))
	}
	if c.EffectiveOn.IsZero() {
		return nil, invalidf("effective_on", "effective_on is required")
	}
	if err := CheckDate("effective_on", c.EffectiveOn); err != nil {
		return nil, err
	}
	on := c.EffectiveOn
	if c.Period == FXMonth {
		on = monthStart(on)
	}
	if on.After(today) {
		return nil, Errorf(Unprocessable, "effective_on", "fx.no_future", "effective_on %s is after today %s; a rate is recorded once observed", on, today)
	}
	if err := CheckRequiredText("source", c.Source, MaxNameLen); err != nil {
		return nil, err
	}
	if err := CheckText("reason", c.Reason, MaxReasonLen); err != nil {
		return nil, err
	}
	e := FXRateSet{From: c.From, To: c.To, Rate: rate.String(), Period: c.Period, EffectiveOn: on, Source: c.Source, Reason: c.Reason, Revision: 1}
	return correctFX(s, e, c.Corrects)
}

// correctFX returns e as the first record of its pair, period and date, as the correction
// of the recorded one that corrects names, or nothing when e repeats the recorded one.
func correctFX(s FXRates, e FXRateSet, corrects string) ([]Event, error) {
	cur, ok := s.rates[fxKey{e.From, e.To, e.Period, e.EffectiveOn}]
	switch {
	case ok && cur.Rate == e.Rate && cur.Source == e.Source:
		return nil, nil
	case !ok && corrects != "":
		return nil, Errorf(Conflict, "corrects", "fx.rate_recorded", "no %s/%s %s rate is recorded for %s: there is nothing to correct; leave corrects out",
			e.From, e.To, e.Period, e.EffectiveOn)
	case !ok:
		return []Event{e}, nil
	}
	recorded := fmt.Sprintf("%s/%s %s rate for %s is already %s (source %s, revision %d)", e.From, e.To, e.Period, e.EffectiveOn, cur.Rate, Quote(cur.Source), cur.rev())
	if corrects == "" {
		return nil, Errorf(Conflict, "rate", "fx.rate_recorded", "the %s; to replace it send corrects: %s", recorded, Quote(cur.Rate))
	}
	if r, err := ParseRate("corrects", corrects); err != nil || r.String() != cur.Rate {
		return nil, Errorf(Conflict, "corrects", "fx.rate_recorded", "corrects is %s but the %s", Quote(corrects), recorded)
	}
	e.Revision, e.Corrects = cur.rev()+1, cur.Rate
	return []Event{e}, nil
}
