package domain

import "fmt"

// The relative quarter names ResolveQuarter accepts besides "2026Q1".
const (
	QuarterCurrent  = "current"
	QuarterPrevious = "previous"
)

// ResolveQuarter parses "2026Q1", or "current" or "previous": the quarter
// of today or the one before it.
func ResolveQuarter(s string, today Date) (Quarter, error) {
	switch s {
	case QuarterCurrent:
		return today.Quarter(), nil
	case QuarterPrevious:
		return today.Quarter().Prev(), nil
	}
	q, err := ParseQuarter(s)
	if err != nil {
		return Quarter{}, fmt.Errorf("domain: quarter %q is not YYYYQn, %q or %q", s, QuarterCurrent, QuarterPrevious)
	}
	return q, nil
}
