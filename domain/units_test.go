package domain_test

import (
	"bytes"
	"math"
	"regexp"
	"testing"

	"dealcredit/domain"
)

func TestApplyBPS(t *testing.T) {
	tests := []struct{ amount, bps, want int64 }{
		{450000, 500, 22500}, {1, 5000, 1}, {-1, 5000, -1}, {1, 4999, 0}, {3, 3333, 1}, {15, 3333, 5},
		{10001, 1, 1}, {5000, 1, 1}, {4999, 1, 0}, {-5000, 1, -1}, {0, 800, 0},
		{math.MaxInt64, 10000, math.MaxInt64}, {math.MaxInt64, 20000, math.MaxInt64}, {math.MinInt64, 10000, math.MinInt64},
	}
	for _, tc := range tests {
		if got := domain.ApplyBPS(tc.amount, tc.bps); got != tc.want {
			t.Errorf("ApplyBPS(%d, %d) = %d, want %d", tc.amount, tc.bps, got, tc.want)
		}
	}
}

func TestCurrencies(t *testing.T) {
	for _, tc := range []struct {
		code  string
		valid bool
		minor int
	}{{"USD", true, 2}, {"JPY", true, 0}, {"KWD", true, 3}, {"usd", false, -1}, {"XXX", false, -1}} {
		if domain.ValidCurrency(tc.code) != tc.valid || domain.MinorUnits(tc.code) != tc.minor {
			t.Errorf("%s", tc.code)
		}
	}
}

func TestDateAndQuarter(t *testing.T) {
	d := domain.MustDate("2026-02-14")
	if d.String() != "2026-02-14" || d.Quarter().String() != "2026Q1" || d.AddDays(15).String() != "2026-03-01" {
		t.Fatal(d, d.Quarter(), d.AddDays(15))
	}
	for _, bad := range []string{"2026-2-14", "2026-02-30", "", "14/02/2026"} {
		if _, err := domain.ParseDate(bad); err == nil {
			t.Errorf("ParseDate(%q) accepted", bad)
		}
	}
	q := domain.MustQuarter("2026Q4")
	if q.Start().String() != "2026-10-01" || q.End().String() != "2026-12-31" || q.Next().String() != "2027Q1" || q.Next().Prev() != q {
		t.Fatal(q.Start(), q.End(), q.Next())
	}
	for _, bad := range []string{"2026Q5", "2026Q0", "26Q1", "2026-Q1"} {
		if _, err := domain.ParseQuarter(bad); err == nil {
			t.Errorf("ParseQuarter(%q) accepted", bad)
		}
	}
	if !domain.MustDate("1969-12-31").Before(domain.MustDate("1970-01-01")) || (domain.Date{}).String() != "" {
		t.Fatal("compare")
	}
}

func TestCustomerKey(t *testing.T) {
	a := domain.CustomerKey(domain.Customer{Name: "ACME, Inc.", Country: "us"})
	b := domain.CustomerKey(domain.Customer{Name: "Acme Corp", Country: "US"})
	c := domain.CustomerKey(domain.Customer{Name: "Acme GmbH", Country: "DE"})
	if a != b || a != "acme|US" || a == c {
		t.Fatal(a, b, c)
	}
	if domain.NormalizeDomain("https://WWW.Acme.Example/path") != "acme.example" {
		t.Fatal(domain.NormalizeDomain("https://WWW.Acme.Example/path"))
	}
	if domain.CustomerKeyStream(a) == domain.CustomerKeyStream(c) || domain.Category(domain.CustomerKeyStream(a)) != "customerkey" {
		t.Fatal("stream")
	}
}

func TestInvoiceValidate(t *testing.T) {
	ok := invoice("HP-1", 1, "2026-02-14", line(1, domain.SegmentClientManagement, 100, 4500))
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		field string
		mod   func(*domain.InvoiceReceived)
	}{
		{"currency", func(i *domain.InvoiceReceived) { i.Currency = "XYZ" }},
		{"revision", func(i *domain.InvoiceReceived) { i.Revision = 0 }},
		{"credit_memo_for", func(i *domain.InvoiceReceived) { i.Kind = domain.KindCreditMemo }},
		{"lines[0].amount_minor", func(i *domain.InvoiceReceived) { i.Lines[0].AmountMinor++ }},
		{"lines[0].quantity", func(i *domain.InvoiceReceived) { i.Lines[0].Quantity = -1 }},
		{"lines[1].line", func(i *domain.InvoiceReceived) { i.Lines = append(i.Lines, i.Lines[0]) }},
		{"lines[0].segment", func(i *domain.InvoiceReceived) { i.Lines[0].Segment = "hardware" }},
		{"lines", func(i *domain.InvoiceReceived) { i.Lines = nil }},
		{"oem_id", func(i *domain.InvoiceReceived) { i.OEMID = "HP!" }},
		{"invoice_date", func(i *domain.InvoiceReceived) { i.InvoiceDate = domain.Date{} }},
	}
	for _, tc := range tests {
		inv := invoice("HP-1", 1, "2026-02-14", line(1, domain.SegmentClientManagement, 100, 4500))
		tc.mod(&inv)
		err := inv.Validate()
		wantCode(t, err, domain.Invalid, "")
		if domain.ErrorField(err) != tc.field {
			t.Errorf("field %q, want %q (%v)", domain.ErrorField(err), tc.field, err)
		}
	}
}

func TestInvoiceEventID(t *testing.T) {
	a := domain.InvoiceEventID("hp", "HP-1", 1)
	if a != domain.InvoiceEventID("hp", "HP-1", 1) || a == domain.InvoiceEventID("hp", "HP-1", 2) || a == domain.InvoiceEventID("dell", "HP-1", 1) {
		t.Fatal("not a deterministic function of the natural key")
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(a) {
		t.Fatalf("%s is not a canonical v5 uuid", a)
	}
	// Stored ids: the derivation must never change.
	if a != "57867f74-b3e0-558c-bfb4-ea524c6e49d3" || domain.RejectionEventID("hp", 7) != "46332565-d3ef-5274-9717-fceb7a4b6154" {
		t.Fatalf("ids changed: %s, %s", a, domain.RejectionEventID("hp", 7))
	}
	if domain.InvoiceStream("hp", "HP-1") != "invoice-hp-HP-1" || domain.QuarterStream(domain.MustQuarter("2026Q1")) != "quarter-2026Q1" {
		t.Fatal("streams")
	}
}

func TestCodecRoundTripAndUpcast(t *testing.T) {
	w := newWorld(t, "2026-01-05")
	w.enroll("var-1", "emea", domain.TierGold)
	w.register("d-1", "var-1", domain.SegmentClientManagement)
	w.must(w.dealCmd("d-1", domain.Approve{}))
	w.fold(invoice("HP-1", 1, "2026-02-14", line(1, domain.SegmentClientManagement, 1, 1)))
	seen := map[string]bool{}
	for _, env := range w.log {
		typ, v, data, err := domain.Encode(env.Event)
		if err != nil {
			t.Fatal(err)
		}
		_, _, again, _ := domain.Encode(env.Event)
		if !bytes.Equal(data, again) {
			t.Fatalf("%s not deterministic", typ)
		}
		back, err := domain.Decode(typ, v, data)
		if err != nil {
			t.Fatal(err)
		}
		_, _, data2, _ := domain.Encode(back)
		if !bytes.Equal(data, data2) {
			t.Fatalf("%s round trip:\n%s\n%s", typ, data, data2)
		}
		seen[typ] = true
	}
	if len(seen) < 8 {
		t.Fatalf("only %d types exercised", len(seen))
	}
	v1 := []byte(`{"version":3,"effective_from":"2025-01-01","rebate_bps":{"gold":500,"platinum":800},"registration_days":90,"platinum_min_target":{"amount_minor":1,"currency":"USD"},"gold_min_target":{"amount_minor":1,"currency":"USD"},"lead_accept_hours":48,"field_rep_bps":10000}`)
	e, err := domain.Decode("policy.set", 1, v1)
	if err != nil {
		t.Fatal(err)
	}
	if p := e.(domain.PolicySet); p.ClaimGraceDays != 30 || p.MaxExtensions != 2 || p.Version != 3 || p.RebateBPS[domain.TierPlatinum] != 800 {
		t.Fatalf("upcast %+v", p)
	}
	for _, tc := range []struct {
		typ string
		v   int
	}{{"nope.happened", 1}, {"policy.set", 3}, {"deal.won", 0}} {
		_, err := domain.Decode(tc.typ, tc.v, []byte(`{}`))
		wantCode(t, err, domain.Invalid, "")
	}
	_, err = domain.Decode("deal.won", 1, []byte(`{"deal_id":"x","surprise":1}`))
	wantCode(t, err, domain.Invalid, "")
}
