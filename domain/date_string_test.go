package domain_test

import (
	"fmt"
	"testing"
	"time"

	"dealcredit/domain"
)

// TestDateString compares Date.String with time.Format over every day of
// years at the edges of the four-digit range and around today.
func TestDateString(t *testing.T) {
	for _, y := range []int{-1, 0, 1, 9, 10, 99, 100, 999, 1000, 1899, 1900, 1970, 2000, 2026, 2100, 9999, 10000} {
		for d := domain.NewDate(y, time.January, 1); d.Time().Year() == y; d = d.AddDays(1) {
			if got, want := d.String(), d.Time().Format(time.DateOnly); got != want {
				t.Fatalf("String() = %q, want %q", got, want)
			}
		}
	}
	if s := (domain.Date{}).String(); s != "" {
		t.Fatalf("zero Date String() = %q, want \"\"", s)
	}
}

// TestQuarterString compares Quarter.String with fmt's "%04dQ%d" for the
// quarters of years at the edges of the four-digit range and around today.
func TestQuarterString(t *testing.T) {
	for _, y := range []int{-1, 0, 1, 9, 10, 99, 100, 999, 1000, 1970, 2026, 9999, 10000} {
		for m := time.January; m <= time.December; m += 3 {
			q := domain.NewDate(y, m, 1).Quarter()
			if got, want := q.String(), fmt.Sprintf("%04dQ%d", q.Year(), q.Number()); got != want {
				t.Fatalf("String() = %q, want %q", got, want)
			}
		}
	}
	if s := (domain.Quarter{}).String(); s != "" {
		t.Fatalf("zero Quarter String() = %q, want \"\"", s)
	}
}
