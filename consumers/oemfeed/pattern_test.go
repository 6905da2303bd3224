package oemfeed

import (
	"regexp"
	"testing"
)

// patterns are the decoder's patterns with the regular expressions they stand for.
var patterns = []matcher{oemIDPattern, numberPattern, skuPattern, countryPattern, datePattern}

func checkPatterns(t *testing.T, s string) {
	t.Helper()
	for _, p := range patterns {
		re := regexp.MustCompile(p.String())
		if got, want := p.MatchString(s), re.MatchString(s); got != want {
			t.Errorf("%s on %q: %v, regexp says %v", p, s, got, want)
		}
	}
}

func TestPatterns(t *testing.T) {
	for _, s := range []string{
		"", "a", "A", "0", "-", "_", ".", "/", "+", "hp", "HP", "hp-1", "h_p", "-hp", "_hp", "hP",
		"HP-2026/001.a_b", "HP+1", "a+b", ".a", "/a", "+a", "US", "us", "USA", "U", "U1",
		"2026-02-14", "2026-2-14", "2026/02/14", "20260-02-14", "2026-02-1x", "x026-02-14", "2026-02-14\n",
		"a\n", "a\x00", "é", "aé", "a b", "0123456789abcdefghijklmnopqrstuv", "0123456789abcdefghijklmnopqrstuvw",
		string(make([]byte, 64)), "A123456789012345678901234567890123456789012345678901234567890123",
		"A1234567890123456789012345678901234567890123456789012345678901234",
	} {
		checkPatterns(t, s)
	}
}

func FuzzPatterns(f *testing.F) {
	f.Add("HP-2026/001")
	f.Add("2026-02-14")
	f.Fuzz(func(t *testing.T, s string) { checkPatterns(t, s) })
}
