package domain

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Date is a civil (calendar) date without time zone: the business date of an invoice,
// an approval or a policy. The zero Date is "no date" (IsZero); it compares before every
// real date. Dates compare with == and Compare.
type Date struct {
	// days is days since 1970-01-01 plus one, so that the zero value means "no date".
	days int64
}

// NewDate returns the Date y-m-d; out-of-range values are normalised like time.Date.
func NewDate(y int, m time.Month, d int) Date {
	t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return Date{days: floorDiv(t.Unix(), 86400) + 1}
}

// DateOf returns the civil date of t in UTC (the business date of an instant).
func DateOf(t time.Time) Date {
	y, m, d := t.UTC().Date()
	return NewDate(y, m, d)
}

// ParseDate parses "2026-02-14" (ISO 8601 calendar date, strict).
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || len(s) != 10 {
		return Date{}, fmt.Errorf("domain: date %q is not YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// MustDate is ParseDate for constants in tests and examples; it panics on a bad date.
func MustDate(s string) Date {
	d, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// IsZero reports whether d is the zero "no date".
func (d Date) IsZero() bool { return d.days == 0 }

// Time returns midnight UTC of d.
func (d Date) Time() time.Time { return time.Unix((d.days-1)*86400, 0).UTC() }

// String returns "2026-02-14", or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	t := d.Time()
	y, m, day := t.Date()
	if y < 0 || y > 9999 {
		return t.Format(time.DateOnly)
	}
	// The common case without time.Format's layout parsing: the stored
	// encoding of every invoice writes its date.
	b := [10]byte{byte('0' + y/1000), byte('0' + y/100%10), byte('0' + y/10%10), byte('0' + y%10), '-',
		byte('0' + int(m)/10), byte('0' + int(m)%10), '-', byte('0' + day/10), byte('0' + day%10)}
	return string(b[:])
}

// AddDays returns d plus n days (n may be negative). The zero Date stays zero.
func (d Date) AddDays(n int) Date {
	if d.IsZero() {
		return d
	}
	return Date{days: d.days + int64(n)}
}

// DaysUntil returns the number of days from d to e (negative when e is before d).
func (d Date) DaysUntil(e Date) int { return int(e.days - d.days) }

// Compare returns -1, 0 or +1 as d is before, equal to or after e.
func (d Date) Compare(e Date) int {
	switch {
	case d.days < e.days:
		return -1
	case d.days > e.days:
		return 1
	}
	return 0
}

// Before reports whether d is strictly before e.
func (d Date) Before(e Date) bool { return d.days < e.days }

// After reports whether d is strictly after e.
func (d Date) After(e Date) bool { return d.days > e.days }

// Quarter returns the calendar quarter d falls in.
func (d Date) Quarter() Quarter {
	if d.IsZero() {
		return Quarter{}
	}
	y, m, _ := d.Time().Date()
	return Quarter{year: y, q: (int(m)-1)/3 + 1}
}

// MarshalText encodes d as "2026-02-14" ("" for zero).
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText decodes "2026-02-14"; "" decodes to the zero Date.
func (d *Date) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Date{}
		return nil
	}
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Quarter is a calendar quarter such as 2026Q1. The zero Quarter is "no quarter".
type Quarter struct {
	year, q int
}

// NewQuarter returns quarter q (1..4) of year.
func NewQuarter(year, q int) (Quarter, error) {
	if q < 1 || q > 4 || year < 1 || year > 9999 {
		return Quarter{}, fmt.Errorf("domain: quarter %dQ%d out of range", year, q)
	}
	return Quarter{year: year, q: q}, nil
}

// ParseQuarter parses "2026Q1".
func ParseQuarter(s string) (Quarter, error) {
	if len(s) != 6 || s[4] != 'Q' || strings.Trim(s[:4], "0123456789") != "" {
		return Quarter{}, fmt.Errorf("domain: quarter %q is not YYYYQn", s)
	}
	y, err := strconv.Atoi(s[:4])
	if err != nil {
		return Quarter{}, fmt.Errorf("domain: quarter %q is not YYYYQn", s)
	}
	n := int(s[5] - '0')
	return NewQuarter(y, n)
}

// MustQuarter is ParseQuarter for constants; it panics on a bad quarter.
func MustQuarter(s string) Quarter {
	q, err := ParseQuarter(s)
	if err != nil {
		panic(err)
	}
	return q
}

// IsZero reports whether q is the zero "no quarter".
func (q Quarter) IsZero() bool { return q.q == 0 }

// Year returns q's year.
func (q Quarter) Year() int { return q.year }

// Number returns 1..4.
func (q Quarter) Number() int { return q.q }

// String returns "2026Q1", or "" for zero.
func (q Quarter) String() string {
	if q.IsZero() {
		return ""
	}
	if q.year < 0 || q.year > 9999 || q.q < 1 || q.q > 9 {
		return fmt.Sprintf("%04dQ%d", q.year, q.q)
	}
	// The common case without fmt: every ledger row and statement key writes it.
	y := q.year
	b := [6]byte{byte('0' + y/1000), byte('0' + y/100%10), byte('0' + y/10%10), byte('0' + y%10), 'Q', byte('0' + q.q)}
	return string(b[:])
}

// Start returns the first day of q.
func (q Quarter) Start() Date { return NewDate(q.year, time.Month((q.q-1)*3+1), 1) }

// End returns the last day of q.
func (q Quarter) End() Date { return q.Next().Start().AddDays(-1) }

// Next returns the quarter after q.
func (q Quarter) Next() Quarter {
	if q.q == 4 {
		return Quarter{year: q.year + 1, q: 1}
	}
	return Quarter{year: q.year, q: q.q + 1}
}

// Prev returns the quarter before q.
func (q Quarter) Prev() Quarter {
	if q.q == 1 {
		return Quarter{year: q.year - 1, q: 4}
	}
	return Quarter{year: q.year, q: q.q - 1}
}

// Compare returns -1, 0 or +1 as q is before, equal to or after o.
func (q Quarter) Compare(o Quarter) int {
	a, b := q.year*4+q.q, o.year*4+o.q
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Contains reports whether d falls in q.
func (q Quarter) Contains(d Date) bool { return d.Quarter() == q }

// MarshalText encodes q as "2026Q1".
func (q Quarter) MarshalText() ([]byte, error) { return []byte(q.String()), nil }

// UnmarshalText decodes "2026Q1"; "" decodes to zero.
func (q *Quarter) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*q = Quarter{}
		return nil
	}
	v, err := ParseQuarter(string(b))
	if err != nil {
		return err
	}
	*q = v
	return nil
}
