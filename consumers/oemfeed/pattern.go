package oemfeed

// pattern is a regular expression of the form ^[first][rest]{min-1,max-1}$
// whose classes hold ASCII characters only, matched without the regexp
// package (the decoder checks several on every message). TestPatterns checks
// each against its expr with regexp.
type pattern struct {
	expr        string
	first, rest [128]bool
	min, max    int
}

// newPattern returns the pattern of expr: a first character of class
// first, then min-1 to max-1 characters of class rest. A class is written
// as in a regexp bracket: ranges "a-z" and single characters (a '-' last).
func newPattern(expr, first, rest string, min, max int) *pattern {
	p := &pattern{expr: expr, min: min, max: max}
	fill(&p.first, first)
	fill(&p.rest, rest)
	return p
}

func fill(set *[128]bool, class string) {
	for i := 0; i < len(class); i++ {
		if i+2 < len(class) && class[i+1] == '-' {
			for c := class[i]; c <= class[i+2]; c++ {
				set[c] = true
			}
			i += 2
			continue
		}
		set[class[i]] = true
	}
}

// MatchString reports whether s matches the pattern.
func (p *pattern) MatchString(s string) bool {
	if len(s) < p.min || len(s) > p.max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		set := &p.rest
		if i == 0 {
			set = &p.first
		}
		if c >= 128 || !set[c] {
			return false
		}
	}
	return true
}

// String returns the regular expression the pattern implements.
func (p *pattern) String() string { return p.expr }

// dateShape is the pattern ^[0-9]{4}-[0-9]{2}-[0-9]{2}$.
type dateShape struct{}

// MatchString reports whether s is four digits, '-', two digits, '-', two digits.
func (dateShape) MatchString(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i != 4 && i != 7 && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}

func (dateShape) String() string { return `^[0-9]{4}-[0-9]{2}-[0-9]{2}$` }

// matcher is what matching checks a member against.
type matcher interface {
	MatchString(s string) bool
	String() string
}

var (
	oemIDPattern           = newPattern(`^[a-z0-9][a-z0-9_-]{0,31}$`, "a-z0-9", "a-z0-9_-", 1, 32)
	numberPattern          = newPattern(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$`, "A-Za-z0-9", "A-Za-z0-9._/-", 1, 64)
	skuPattern             = newPattern(`^[A-Za-z0-9][A-Za-z0-9._/+-]{0,63}$`, "A-Za-z0-9", "A-Za-z0-9._/+-", 1, 64)
	countryPattern         = newPattern(`^[A-Z]{2}$`, "A-Z", "A-Z", 2, 2)
	datePattern    matcher = dateShape{}
)
