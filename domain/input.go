package domain

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// This file is the one place where input is checked field type by field type: the HTTP
// API, the OEM feed decoder, the CLI and the deciders all call these checks, so a value
// one entry accepts is a value every projection can store (Postgres text refuses NUL;
// int4 columns refuse more than 2^31-1; every sum of amounts must fit in int64).

// Text length bounds, in characters (Unicode code points), per kind of field.
const (
	// MaxIDLen bounds ids (partners, OEMs, geographies, deals, leads, reps).
	MaxIDLen = 64
	// MaxNameLen bounds names: customers, partners, engineers, reps, lead sources.
	MaxNameLen = 256
	// MaxDomainLen bounds a web domain (the DNS limit).
	MaxDomainLen = 253
	// MaxRefLen bounds references: OEM account ids, SKUs, size bands, deal
	// registration references on invoices.
	MaxRefLen = 64
	// MaxInvoiceNumberLen bounds an invoice number (and credit_memo_for).
	MaxInvoiceNumberLen = 128
	// MaxReasonLen bounds a written reason (reject, override, return, tier change,
	// lead decline, policy change).
	MaxReasonLen = 1000
	// MaxNotesLen bounds the notes of an engagement step.
	MaxNotesLen = 4000
)

// Integer bounds. The projections keep counts in int4 columns and amounts in bigint
// columns; these bounds keep every stored value and every sum a projection computes in
// range (docs/rules.md, "Input bounds").
const (
	// MaxAmountMinor bounds every single amount: an invoice line, an invoice's total, a
	// deal's expected value, a quarterly target, a policy's minimum target (10^15 minor
	// units: 10 trillion USD). A projection's sum (a partner's quarter, a quarter's
	// revenue mix) then needs more than 9,000 invoices at this maximum in one quarter and
	// currency before it could leave int64; it is overflow-checked all the same.
	MaxAmountMinor = 1_000_000_000_000_000
	// MaxQuantity bounds an invoice line's quantity.
	MaxQuantity = 1_000_000_000_000
	// MaxRevision bounds an invoice's revision (stored in int4 columns).
	MaxRevision = 1_000_000
	// MaxLineNumber bounds an invoice line's number (stored in int4 columns).
	MaxLineNumber = 100_000
	// MaxSeats bounds a geography's seat capacity per tier (stored in int4 columns).
	MaxSeats = 100_000
	// MaxTierHistory bounds the past tiers a partner is enrolled with.
	MaxTierHistory = 100
	// MaxLeadAcceptHours bounds the policy's time to accept a lead (90 days).
	MaxLeadAcceptHours = 90 * 24
)

// Business dates and quarters are accepted from MinYear to MaxYear inclusive.
const (
	MinYear = 2000
	MaxYear = 2100
)

// CheckText reports, as an Invalid *Error naming field, why s is not acceptable text of
// at most maxLen characters: invalid UTF-8, U+FFFD (what a decoder leaves of invalid
// UTF-8 or a lone surrogate escape: never silently kept), a control character (C0
// including NUL, tab and newline; DEL; C1), or too long. The empty string passes: callers
// that need a value say "required" themselves (or use CheckRequiredText).
func CheckText(field, s string, maxLen int) error {
	if !utf8.ValidString(s) {
		return invalidf(field, "%s is not valid UTF-8", field)
	}
	n := 0
	for _, r := range s {
		n++
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			return invalidf(field, "%s contains the control character U+%04X at character %d", field, r, n)
		case r == utf8.RuneError:
			return invalidf(field, "%s contains U+FFFD (invalid UTF-8 or a lone surrogate) at character %d", field, n)
		}
	}
	if n > maxLen {
		return invalidf(field, "%s is %d characters, more than %d", field, n, maxLen)
	}
	return nil
}

// CheckRequiredText is CheckText for a field that must not be empty or only spaces.
func CheckRequiredText(field, s string, maxLen int) error {
	if strings.TrimSpace(s) == "" {
		return invalidf(field, "%s is required", field)
	}
	return CheckText(field, s, maxLen)
}

// CheckID reports why id is not a valid id (see ValidID), naming field.
func CheckID(field, id string) error {
	if id == "" {
		return invalidf(field, "%s is required", field)
	}
	if !validID(id) {
		return invalidf(field, "%s %s must be 1-%d characters of a-z, 0-9, '_' or '-'", field, Quote(id), MaxIDLen)
	}
	return nil
}

// CheckOptionalID is CheckID for a field that may be empty.
func CheckOptionalID(field, id string) error {
	if id == "" {
		return nil
	}
	return CheckID(field, id)
}

// CheckRange reports why v is not in [lo, hi], naming field.
func CheckRange(field string, v, lo, hi int64) error {
	if v < lo || v > hi {
		return invalidf(field, "%s must be between %d and %d, got %d", field, lo, hi, v)
	}
	return nil
}

// CheckAmount reports why amount is not a valid amount in minor units: at least min (0 or
// 1) and at most MaxAmountMinor.
func CheckAmount(field string, amount, min int64) error {
	if amount < min || amount > MaxAmountMinor {
		return invalidf(field, "%s must be between %d and %d minor units, got %d", field, min, int64(MaxAmountMinor), amount)
	}
	return nil
}

// CheckDate reports why d is not a business date in the accepted window (MinYear-01-01 to
// MaxYear-12-31). The zero date passes: callers that need a date say "required".
func CheckDate(field string, d Date) error {
	if d.IsZero() {
		return nil
	}
	if y := d.Time().Year(); y < MinYear || y > MaxYear {
		return invalidf(field, "%s %s is outside the accepted years %d-%d", field, d, MinYear, MaxYear)
	}
	return nil
}

// CheckQuarter reports why q is not a quarter in the accepted window (years MinYear to
// MaxYear), naming field.
func CheckQuarter(field string, q Quarter) error {
	if q.IsZero() {
		return invalidf(field, "%s is required, like 2026Q1", field)
	}
	if q.Year() < MinYear || q.Year() > MaxYear {
		return invalidf(field, "%s %s is outside the accepted years %d-%d", field, q, MinYear, MaxYear)
	}
	return nil
}

// CheckCountry reports why c is not an officially assigned ISO 3166-1 alpha-2 country
// code (upper or lower case; "ZZ" and other user-assigned codes are refused).
func CheckCountry(field, c string) error {
	if len(c) != 2 || !ValidCountry(strings.ToUpper(c)) {
		return invalidf(field, "%s %s must be an assigned ISO 3166-1 alpha-2 country code, like US", field, Quote(c))
	}
	return nil
}

// ValidCountry reports whether code is an officially assigned ISO 3166-1 alpha-2 code
// (upper case).
func ValidCountry(code string) bool {
	if len(code) != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z' {
		return false
	}
	return countries[int(code[0]-'A')*26+int(code[1]-'A')]
}

// countries marks the codes of iso3166, indexed by (first letter)*26 + second.
var countries = func() (set [26 * 26]bool) {
	for i := 0; i+2 <= len(iso3166); i += 3 {
		set[int(iso3166[i]-'A')*26+int(iso3166[i+1]-'A')] = true
	}
	return set
}()

// iso3166 lists the 249 officially assigned ISO 3166-1 alpha-2 codes.
const iso3166 = "" +
	"AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ " +
	"BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ " +
	"DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY " +
	"HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY " +
	"MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ " +
	"NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY " +
	"QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ " +
	"TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ " +
	"VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW "

// CheckCustomer checks a customer as named on a registration, a lead or an invoice:
// name required, country an assigned code, every text bounded and clean. prefix is the
// field's JSON path ("customer").
func CheckCustomer(prefix string, c Customer) error {
	// The field names are built only for a customer that fails: the check
	// runs on every stored invoice.
	if checkCustomer("name", "country", "domain", "oem_account_id", c) == nil {
		return nil
	}
	return checkCustomer(prefix+".name", prefix+".country", prefix+".domain", prefix+".oem_account_id", c)
}

func checkCustomer(name, country, domain, account string, c Customer) error {
	if err := CheckRequiredText(name, c.Name, MaxNameLen); err != nil {
		return err
	}
	if err := CheckCountry(country, c.Country); err != nil {
		return err
	}
	if err := CheckText(domain, c.Domain, MaxDomainLen); err != nil {
		return err
	}
	return CheckText(account, c.OEMAccountID, MaxRefLen)
}

// AddAmounts returns a+b, or an error wrapping ErrAmountOverflow when the sum leaves
// int64: a projection's sum is never silently wrapped.
func AddAmounts(a, b int64) (int64, error) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, fmt.Errorf("%w: %d + %d", ErrAmountOverflow, a, b)
	}
	return s, nil
}

// ErrAmountOverflow is the typed error of a sum of amounts that leaves int64.
var ErrAmountOverflow = errors.New("domain: sum of amounts overflows 64-bit minor units")

// Quote quotes v for a message, cut to 40 characters so that a huge input does not make
// a huge error.
func Quote(v string) string {
	if r := []rune(v); len(r) > 40 {
		v = string(r[:40]) + "..."
	}
	return fmt.Sprintf("%q", v)
}
