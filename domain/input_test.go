package domain_test

import (
	"errors"
	"strings"
	"testing"

	"dealcredit/domain"
)

func TestCheckText(t *testing.T) {
	for _, tc := range []struct {
		name, s string
		max     int
		ok      bool
	}{
		{"plain", "Acme Corp", 256, true},
		{"unicode", "Société Générale 株式会社", 256, true},
		{"empty", "", 256, true},
		{"NUL", "Nul\x00Corp", 256, false},
		{"tab", "a\tb", 256, false},
		{"newline", "a\nb", 256, false},
		{"DEL", "a\x7fb", 256, false},
		{"C1", "a\u0085b", 256, false},
		{"invalid UTF-8", "a\xffb", 256, false},
		{"U+FFFD", "a\ufffdb", 256, false},
		{"at the bound", strings.Repeat("é", 256), 256, true},
		{"past the bound", strings.Repeat("é", 257), 256, false},
	} {
		err := domain.CheckText("customer.name", tc.s, tc.max)
		if (err == nil) != tc.ok {
			t.Errorf("%s: CheckText = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && (domain.ErrorCode(err) != domain.Invalid || domain.ErrorField(err) != "customer.name" || !strings.Contains(err.Error(), "customer.name")) {
			t.Errorf("%s: error %v does not name the field as invalid", tc.name, err)
		}
	}
	if err := domain.CheckRequiredText("reason", "  ", 10); domain.ErrorField(err) != "reason" {
		t.Errorf("blank required text: %v", err)
	}
}

func TestCheckCountryDateQuarterAmount(t *testing.T) {
	n := 0
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			if domain.ValidCountry(string([]rune{a, b})) {
				n++
			}
		}
	}
	if n != 249 {
		t.Errorf("%d assigned country codes, want 249", n)
	}
	for c, ok := range map[string]bool{"US": true, "de": true, "ZZ": false, "XK": false, "USA": false, "": false, "U": false} {
		if err := domain.CheckCountry("customer.country", c); (err == nil) != ok {
			t.Errorf("CheckCountry(%q) = %v", c, err)
		}
	}
	for d, ok := range map[string]bool{"2000-01-01": true, "2100-12-31": true, "1999-12-31": false, "2101-01-01": false, "0000-01-01": false} {
		if err := domain.CheckDate("certified_on", domain.MustDate(d)); (err == nil) != ok {
			t.Errorf("CheckDate(%s) = %v", d, err)
		}
	}
	for _, s := range []string{"+026Q1", "-026Q1", " 026Q1", "2026Q5", "2026Q0"} {
		if q, err := domain.ParseQuarter(s); err == nil {
			t.Errorf("ParseQuarter(%q) = %s", s, q)
		}
	}
	if err := domain.CheckQuarter("quarter", domain.MustQuarter("0026Q1")); domain.ErrorField(err) != "quarter" {
		t.Errorf("quarter 0026Q1: %v", err)
	}
	for v, ok := range map[int64]bool{0: false, 1: true, domain.MaxAmountMinor: true, domain.MaxAmountMinor + 1: false, 1<<63 - 1: false, -1: false} {
		if err := domain.CheckAmount("expected_value_minor", v, 1); (err == nil) != ok {
			t.Errorf("CheckAmount(%d) = %v", v, err)
		}
	}
	if _, err := domain.AddAmounts(1<<62, 1<<62); !errors.Is(err, domain.ErrAmountOverflow) {
		t.Errorf("AddAmounts overflow: %v", err)
	}
	if _, err := domain.AddAmounts(-1<<62, -1<<62-1); !errors.Is(err, domain.ErrAmountOverflow) {
		t.Errorf("AddAmounts underflow: %v", err)
	}
	if s, err := domain.AddAmounts(1<<62, -1<<62); err != nil || s != 0 {
		t.Errorf("AddAmounts(2^62, -2^62) = %d, %v", s, err)
	}
}

// TestInvoiceBounds: an invoice whose total passes MaxAmountMinor is refused
// by the validation every entry shares, so the two invoices whose
// credits to one partner passed 2^63 never reach the log; and if such
// invoices are in a log anyway (written before the bound), the fold does not
// stop on them: the first takes the gross of USD past MaxGross, so no USD total
// is kept (never a wrapped number) and nothing is an error.
func TestInvoiceBounds(t *testing.T) {
	big := invoice("HP-BIG-1", 1, "2026-02-14", line(1, domain.SegmentClientManagement, 1, 5_000_000_000_000_000_000))
	if err := big.Validate(); domain.ErrorField(err) != "lines[0].unit_price_minor" {
		t.Fatalf("5e18 line: %v", err)
	}
	split := invoice("HP-BIG-2", 1, "2026-02-14", line(1, domain.SegmentClientManagement, 1, 600_000_000_000_000), line(2, domain.SegmentServerManagement, 1, 600_000_000_000_000))
	if err := split.Validate(); domain.ErrorField(err) != "lines" {
		t.Fatalf("total past the bound: %v", err)
	}
	nul := invoice("HP-NUL-1", 1, "2026-02-14", line(1, domain.SegmentClientManagement, 1, 100))
	nul.Customer.Name = "Nul\x00Corp"
	if err := nul.Validate(); domain.ErrorField(err) != "customer.name" {
		t.Fatalf("NUL in customer name: %v", err)
	}

	w := newWorld(t, "2026-01-05")
	w.enroll("var-a", "us-west", domain.TierGold)
	w.register("d-1", "var-a", domain.SegmentClientManagement)
	w.must(w.dealCmd("d-1", domain.Approve{}))
	var err error
	for i, n := range []string{"OLD-1", "OLD-2"} {
		inv := invoice(n, 1, "2026-02-14", line(1, domain.SegmentClientManagement, 1, 5_000_000_000_000_000_000))
		typ, _, _, _ := domain.Encode(inv)
		_, err = w.prog.Apply(domain.Envelope{Position: w.pos + int64(i) + 1, EventID: domain.InvoiceEventID("hp", n, 1),
			StreamID: domain.InvoiceStream("hp", n), Type: typ, Event: inv})
		if err != nil {
			t.Fatalf("old invoice %s: %v", n, err)
		}
	}
	if !w.prog.Overflowed("USD") || len(w.prog.RevenueMix(domain.MustQuarter("2026Q1"))) != 0 {
		t.Fatalf("USD overflowed %v, mix %+v: want overflowed, no mix", w.prog.Overflowed("USD"), w.prog.RevenueMix(domain.MustQuarter("2026Q1")))
	}
}
