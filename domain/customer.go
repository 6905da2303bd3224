package domain

import (
	"strings"
	"unicode"
)

// legalSuffixes are the words dropped from a customer name when normalising it.
var legalSuffixes = map[string]bool{
	"inc": true, "incorporated": true, "ltd": true, "limited": true, "llc": true, "llp": true,
	"gmbh": true, "ag": true, "kg": true, "sa": true, "sas": true, "sarl": true, "srl": true,
	"spa": true, "bv": true, "nv": true, "plc": true, "corp": true, "corporation": true,
	"co": true, "company": true, "ab": true, "as": true, "asa": true, "oy": true, "oyj": true,
	"kk": true, "pty": true, "pte": true, "se": true,
}

// NormalizeName lower-cases a customer name, turns punctuation into spaces, drops legal
// suffixes (Inc, Ltd, GmbH, ...) and collapses spaces: "ACME, Inc." and "Acme Inc" both
// give "acme".
func NormalizeName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		case r == '.' || r == '\'':
			// "G.m.b.H." and "O'Brien" keep their letters together.
		default:
			b.WriteRune(' ')
		}
	}
	words := strings.Fields(b.String())
	out := words[:0]
	for _, w := range words {
		if !legalSuffixes[w] {
			out = append(out, w)
		}
	}
	if len(out) == 0 { // a name that is only a suffix keeps its words
		return strings.Join(words, " ")
	}
	return strings.Join(out, " ")
}

// NormalizeDomain lower-cases a web domain and strips a scheme, "www.", a path and a
// trailing dot: "https://WWW.Acme.example/" gives "acme.example".
func NormalizeDomain(d string) string {
	d = strings.ToLower(strings.TrimSpace(d))
	if i := strings.Index(d, "://"); i >= 0 {
		d = d[i+3:]
	}
	if i := strings.IndexAny(d, "/?#"); i >= 0 {
		d = d[:i]
	}
	d = strings.TrimSuffix(d, ".")
	d = strings.TrimPrefix(d, "www.")
	return d
}

// CustomerKey returns the normalised key of a customer, "<name>|<country>" with the name
// normalised by NormalizeName and the country upper-cased. The conflict rule holds per
// (CustomerKey, segment); its reservation stream is CustomerKeyStream(CustomerKey(c)).
func CustomerKey(c Customer) string {
	return NormalizeName(c.Name) + "|" + strings.ToUpper(strings.TrimSpace(c.Country))
}
