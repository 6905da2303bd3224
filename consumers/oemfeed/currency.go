package oemfeed

import (
	"slices"

	"dealcredit/domain"
)

// Currencies is the sorted list of ISO 4217 codes the feed accepts: exactly
// those domain.ValidCurrency accepts (the schema's enum is kept equal by a test).
var Currencies = func() []string {
	var out []string
	b := []byte("AAA")
	for b[0] = 'A'; b[0] <= 'Z'; b[0]++ {
		for b[1] = 'A'; b[1] <= 'Z'; b[1]++ {
			for b[2] = 'A'; b[2] <= 'Z'; b[2]++ {
				if domain.ValidCurrency(string(b)) {
					out = append(out, string(b))
				}
			}
		}
	}
	return out
}()

// ValidCurrency reports whether code is in Currencies.
func ValidCurrency(code string) bool {
	_, ok := slices.BinarySearch(Currencies, code)
	return ok
}

// ValidSegment reports whether s is in Segments.
func ValidSegment(s string) bool { return slices.Contains(Segments, s) }
