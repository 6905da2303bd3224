package domain_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"dealcredit/domain"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want string // canonical form, "" when refused
	}{
		{"1.0842", "1.0842"}, {"151", "151"}, {"0.00625", "0.00625"}, {"1.50", "1.5"}, {"007.100", "7.1"},
		{"1000000", "1000000"}, {"0.000000000001", "0.000000000001"},
		{"", ""}, {"0", ""}, {"0.000", ""}, {"-1.2", ""}, {"+1", ""}, {"1e3", ""}, {" 1", ""}, {"1.", ""}, {".5", ""},
		{"1.2.3", ""}, {"1000000.1", ""}, {"99999999999999999999", ""}, {"0.0000000000001", ""}, {"NaN", ""},
	}
	for _, tc := range tests {
		r, err := domain.ParseRate("rate", tc.in)
		if tc.want == "" {
			if err == nil || domain.ErrorField(err) != "rate" {
				t.Errorf("ParseRate(%q) = %v, %v; want an error naming rate", tc.in, r, err)
			}
			continue
		}
		if err != nil || r.String() != tc.want {
			t.Errorf("ParseRate(%q) = %q, %v; want %q", tc.in, r.String(), err, tc.want)
		}
	}
}

// TestConvertRounding pins the rounding rule of docs/finance.md: exact product, then half
// to even on the target's minor unit, symmetric for negative amounts.
func TestConvertRounding(t *testing.T) {
	tests := []struct {
		m    domain.Money
		to   string
		rate string
		want int64
	}{
		{domain.Money{Amount: 100_000, Currency: "EUR"}, "USD", "1.0842", 108_420},   // 1,000.00 EUR -> 1,084.20 USD
		{domain.Money{Amount: 1_000_000, Currency: "JPY"}, "USD", "0.0065", 650_000}, // 1,000,000 JPY -> 6,500.00 USD (0 -> 2 digits)
		{domain.Money{Amount: 12_345, Currency: "USD"}, "JPY", "150", 18_518},        // 123.45 x 150 = 18,517.5 -> 18,518 (even)
		{domain.Money{Amount: 12_335, Currency: "USD"}, "JPY", "150", 18_502},        // 18,502.5 -> 18,502 (even)
		{domain.Money{Amount: -12_345, Currency: "USD"}, "JPY", "150", -18_518},      // symmetric
		{domain.Money{Amount: -12_335, Currency: "USD"}, "JPY", "150", -18_502},
		{domain.Money{Amount: 1, Currency: "USD"}, "EUR", "0.5", 0},    // 0.005 EUR -> 0 (half to even)
		{domain.Money{Amount: 3, Currency: "USD"}, "EUR", "0.5", 2},    // 1.5 -> 2
		{domain.Money{Amount: 1, Currency: "USD"}, "EUR", "0.5001", 1}, // above half
		{domain.Money{Amount: 1, Currency: "USD"}, "KWD", "0.3075", 3}, // 0.01 x 0.3075 = 0.003075 KWD -> 3 fils
		{domain.Money{Amount: 0, Currency: "USD"}, "EUR", "0.9", 0},
		// Figures past one amount's bound (10^15) but within docs/finance.md's 10^18: a
		// quarter of 700 million USD reported in IDR, one invoice at the bound in JPY.
		{domain.Money{Amount: 70_000_000_000, Currency: "USD"}, "IDR", "16000", 1_120_000_000_000_000},
		{domain.Money{Amount: domain.MaxAmountMinor, Currency: "USD"}, "JPY", "150", 1_500_000_000_000_000},
		{domain.Money{Amount: 1_000_000_000_000_000_000, Currency: "JPY"}, "KRW", "1", 1_000_000_000_000_000_000},
	}
	for _, tc := range tests {
		r, err := domain.ParseRate("rate", tc.rate)
		if err != nil {
			t.Fatal(err)
		}
		got, err := domain.Convert(tc.m, tc.to, r)
		if err != nil || got != (domain.Money{Amount: tc.want, Currency: tc.to}) {
			t.Errorf("Convert(%s, %s, %s) = %v, %v; want %d %s", tc.m, tc.to, tc.rate, got, err, tc.want, tc.to)
		}
	}
	big, _ := domain.ParseRate("rate", "1000000")
	if _, err := domain.Convert(domain.Money{Amount: domain.MaxAmountMinor, Currency: "USD"}, "JPY", big); domain.ErrorField(err) != "amount" {
		t.Errorf("overflowing conversion: err %v, want an error naming amount", err)
	}
	above, _ := domain.ParseRate("rate", "1.000000000001")
	if _, err := domain.Convert(domain.Money{Amount: 1_000_000_000_000_000_000, Currency: "JPY"}, "KRW", above); domain.ErrorField(err) != "amount" {
		t.Errorf("a figure past 10^18: err %v, want an error naming amount", err)
	}
}

func TestDecideSetFXRate(t *testing.T) {
	now := time.Date(2026, 5, 15, 12, 0, 0, 0, time.UTC)
	ok := domain.SetFXRate{From: "EUR", To: "USD", Rate: "1.0842", Period: domain.FXDay, EffectiveOn: domain.MustDate("2026-03-31"), Source: "ECB reference rate"}
	tests := []struct {
		name  string
		edit  func(*domain.SetFXRate)
		field string
	}{
		{"ok", func(*domain.SetFXRate) {}, ""},
		{"unknown from", func(c *domain.SetFXRate) { c.From = "XXX" }, "from"},
		{"lower-case to", func(c *domain.SetFXRate) { c.To = "usd" }, "to"},
		{"same pair", func(c *domain.SetFXRate) { c.To = "EUR" }, "to"},
		{"zero rate", func(c *domain.SetFXRate) { c.Rate = "0" }, "rate"},
		{"negative rate", func(c *domain.SetFXRate) { c.Rate = "-1.08" }, "rate"},
		{"period", func(c *domain.SetFXRate) { c.Period = "week" }, "period"},
		{"no date", func(c *domain.SetFXRate) { c.EffectiveOn = domain.Date{} }, "effective_on"},
		{"absurd date", func(c *domain.SetFXRate) { c.EffectiveOn = domain.MustDate("1900-01-01") }, "effective_on"},
		{"future", func(c *domain.SetFXRate) { c.EffectiveOn = domain.MustDate("2026-05-16") }, "effective_on"},
		{"no source", func(c *domain.SetFXRate) { c.Source = " " }, "source"},
		{"control source", func(c *domain.SetFXRate) { c.Source = "ECB\x00" }, "source"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			evs, err := domain.DecideSetFXRate(domain.FXRates{}, c, now)
			if tc.field == "" {
				if err != nil || len(evs) != 1 {
					t.Fatalf("got %v, %v; want one event", evs, err)
				}
				return
			}
			if err == nil || domain.ErrorField(err) != tc.field {
				t.Fatalf("err %v; want an error naming %s", err, tc.field)
			}
		})
	}
	// A month rate is dated on its first day; the same record twice appends nothing.
	m := ok
	m.Period, m.EffectiveOn = domain.FXMonth, domain.MustDate("2026-05-20")
	evs, err := domain.DecideSetFXRate(domain.FXRates{}, m, now)
	if err != nil || len(evs) != 1 || evs[0].(domain.FXRateSet).EffectiveOn != domain.MustDate("2026-05-01") {
		t.Fatalf("month rate in the current month: %v, %v", evs, err)
	}
	s := domain.EvolveFX(domain.FXRates{}, evs[0])
	if again, err := domain.DecideSetFXRate(s, m, now); err != nil || len(again) != 0 {
		t.Fatalf("same rate again: %v, %v; want nothing", again, err)
	}
}

// TestReportMix converts a USD, EUR and JPY mix to USD: figures exact, each row names its
// rate, a day rate wins over the month rate, and a missing rate makes the report
// incomplete, naming the pair and date, with no total.
func TestReportMix(t *testing.T) {
	q := domain.MustQuarter("2026Q1")
	rows := []domain.MixRow{
		{Quarter: q, Currency: "EUR", Direct: 100_000, Indirect: 300_000, AdjIndirect: -10_000},
		{Quarter: q, Currency: "JPY", Direct: 2_000_000, Indirect: 8_000_000},
		{Quarter: q, Currency: "USD", Direct: 50_000, Indirect: 150_000},
	}
	var s domain.FXRates
	for _, e := range []domain.FXRateSet{
		{From: "EUR", To: "USD", Rate: "1.0842", Period: domain.FXDay, EffectiveOn: domain.MustDate("2026-03-31"), Source: "ECB"},
		{From: "EUR", To: "USD", Rate: "2", Period: domain.FXMonth, EffectiveOn: domain.MustDate("2026-03-01"), Source: "ignored: the day rate wins"},
		{From: "JPY", To: "USD", Rate: "0.0065", Period: domain.FXMonth, EffectiveOn: domain.MustDate("2026-03-01"), Source: "treasury"},
	} {
		s = domain.EvolveFX(s, e)
	}
	got, err := domain.ReportMix(q, rows, "USD", s)
	if err != nil {
		t.Fatal(err)
	}
	// EUR: 1,084.20 / 3,252.60 / -108.42; JPY: 13,000.00 / 52,000.00; USD as is.
	if !got.Complete || *got.DirectMinor != 108_420+1_300_000+50_000 || *got.IndirectMinor != 325_260+5_200_000+150_000 {
		t.Fatalf("complete mix: %+v", got)
	}
	if want := domain.MulDiv(5_675_260, 10_000, 5_675_260+1_458_420); *got.IndirectShareBPS != want {
		t.Errorf("share %d, want %d", *got.IndirectShareBPS, want)
	}
	if r := got.Rows[0]; r.Rate == nil || r.Rate.Rate != "1.0842" || r.Rate.Source != "ECB" || *r.AdjIndirectMinor != -10_842 {
		t.Errorf("EUR row: %+v", r)
	}
	if r := got.Rows[2]; r.Rate != nil || *r.DirectMinor != 50_000 {
		t.Errorf("USD row needs no rate: %+v", r)
	}
	// Without the JPY rate: incomplete, the JPY pair and date named, no totals.
	s2 := domain.EvolveFX(domain.FXRates{}, domain.FXRateSet{From: "EUR", To: "USD", Rate: "1.0842", Period: domain.FXDay, EffectiveOn: domain.MustDate("2026-03-31"), Source: "ECB"})
	got, err = domain.ReportMix(q, rows, "USD", s2)
	if err != nil {
		t.Fatal(err)
	}
	want := domain.FXMissing{From: "JPY", To: "USD", On: domain.MustDate("2026-03-31")}
	if got.Complete || got.DirectMinor != nil || got.IndirectShareBPS != nil || len(got.Missing) != 1 || got.Missing[0] != want {
		t.Fatalf("incomplete mix: %+v", got)
	}
	if r := got.Rows[1]; r.DirectMinor != nil || r.Missing == nil {
		t.Errorf("JPY row must not carry a figure: %+v", r)
	}
}

// TestReportStatement compares a partner's EUR and USD revenue with its USD target in
// one currency, and names the missing rate when the target's currency has none.
func TestReportStatement(t *testing.T) {
	q := domain.MustQuarter("2026Q1")
	rows := []domain.StatementRow{
		{Currency: "EUR", Credited: 4_000_000, Rebates: 200_000},
		{Currency: "USD", Credited: 1_000_000, Rebates: 50_000, Service: 1_001, Target: domain.Money{Amount: 5_000_000, Currency: "USD"}},
	}
	eur := domain.EvolveFX(domain.FXRates{}, domain.FXRateSet{From: "EUR", To: "USD", Rate: "1.25", Period: domain.FXMonth, EffectiveOn: domain.MustDate("2026-03-01"), Source: "ECB"})
	got, err := domain.ReportStatement("var-a", q, rows, "USD", eur)
	if err != nil {
		t.Fatal(err)
	}
	// 40,000.00 EUR x 1.25 = 50,000.00 USD + 10,000.00 USD = 60,000.00 >= 50,000.00.
	if !got.Complete || *got.CreditedRevenueMinor != 6_000_000 || *got.RebatesMinor != 300_000 || *got.ServiceCreditMinor != 1_001 ||
		*got.TargetMinor != 5_000_000 || got.TargetRate != nil || !*got.MeetsTarget {
		t.Fatalf("USD report: %+v", got)
	}
	// In EUR, the USD -> EUR rate is missing: for the USD row and the target, named once.
	got, err = domain.ReportStatement("var-a", q, rows, "EUR", eur)
	if err != nil {
		t.Fatal(err)
	}
	want := domain.FXMissing{From: "USD", To: "EUR", On: domain.MustDate("2026-03-31")}
	if got.Complete || got.CreditedRevenueMinor != nil || got.MeetsTarget != nil || got.TargetMinor != nil || len(got.Missing) != 1 || got.Missing[0] != want {
		t.Fatalf("EUR report: %+v", got)
	}
	if r := got.Rows[0]; r.CreditedRevenueMinor == nil || *r.CreditedRevenueMinor != 4_000_000 || r.Rate != nil {
		t.Errorf("EUR row in EUR: %+v", r)
	}
}

// TestDecideSetFXRateCorrection: a different rate or source for a pair, period and date
// already recorded is refused (409 naming the recorded rate) unless corrects names the
// rate in force; the correction is the next revision and is in force.
func TestDecideSetFXRateCorrection(t *testing.T) {
	now := time.Date(2026, 5, 15, 12, 0, 0, 0, time.UTC)
	first := domain.SetFXRate{From: "EUR", To: "USD", Rate: "1.0842", Period: domain.FXDay, EffectiveOn: domain.MustDate("2026-03-31"), Source: "ECB reference rate"}
	evs, err := domain.DecideSetFXRate(domain.FXRates{}, first, now)
	if err != nil || len(evs) != 1 || evs[0].(domain.FXRateSet).Revision != 1 {
		t.Fatalf("first record: %v, %v; want revision 1", evs, err)
	}
	s := domain.EvolveFX(domain.FXRates{}, evs[0])
	tests := []struct {
		name           string
		rate, source   string
		corrects       string
		field, mention string // the refusal's field and a text it must contain; "" = accepted
		revision       int
	}{
		{"different rate", "1.09", "ECB reference rate", "", "rate", "already 1.0842 (source \"ECB reference rate\", revision 1)", 0},
		{"different source", "1.0842", "treasury", "", "rate", "corrects: \"1.0842\"", 0},
		{"corrects the wrong rate", "1.09", "ECB reference rate", "1.08", "corrects", "corrects is \"1.08\"", 0},
		{"corrects garbage", "1.09", "ECB reference rate", "x", "corrects", "already 1.0842", 0},
		{"correction", "1.09", "ECB reference rate", "1.0842", "", "", 2},
		{"correction written differently", "1.0900", "ECB", "1.08420", "", "", 2},
		{"same rate again, with corrects", "1.0842", "ECB reference rate", "1.0842", "", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := first
			c.Rate, c.Source, c.Corrects = tc.rate, tc.source, tc.corrects
			evs, err := domain.DecideSetFXRate(s, c, now)
			if tc.field != "" {
				var de *domain.Error
				if !errors.As(err, &de) || de.Field != tc.field || de.Rule != "fx.rate_recorded" ||
					de.Code != domain.Conflict || !strings.Contains(de.Message, tc.mention) {
					t.Fatalf("err %v; want a fx.rate_recorded conflict on %s mentioning %q", err, tc.field, tc.mention)
				}
				return
			}
			if err != nil || len(evs) != min(tc.revision, 1) {
				t.Fatalf("got %v, %v", evs, err)
			}
			if tc.revision == 0 {
				return
			}
			e := evs[0].(domain.FXRateSet)
			if e.Revision != tc.revision || e.Corrects != "1.0842" {
				t.Fatalf("correction %+v; want revision %d correcting 1.0842", e, tc.revision)
			}
			if r, ok := domain.EvolveFX(s, e).On("EUR", "USD", domain.MustDate("2026-03-31")); !ok || r.Rate != "1.09" {
				t.Fatalf("after the correction the rate in force is %+v", r)
			}
		})
	}
	// Nothing recorded: corrects has nothing to correct.
	c := first
	c.Corrects = "1.0842"
	if _, err := domain.DecideSetFXRate(domain.FXRates{}, c, now); domain.ErrorField(err) != "corrects" || domain.ErrorCode(err) != domain.Conflict {
		t.Fatalf("corrects without a recorded rate: %v", err)
	}
}

// TestPropertyFXRatesAnyArrivalOrder folds the same rate records (first records,
// corrections, and records written before revisions existed that disagree) in many
// arrival orders: the rates in force are the same every time.
func TestPropertyFXRatesAnyArrivalOrder(t *testing.T) {
	d, m := domain.MustDate("2026-03-31"), domain.MustDate("2026-03-01")
	facts := []domain.FXRateSet{
		{From: "EUR", To: "USD", Rate: "1.0842", Period: domain.FXDay, EffectiveOn: d, Source: "ECB", Revision: 1},
		{From: "EUR", To: "USD", Rate: "1.09", Period: domain.FXDay, EffectiveOn: d, Source: "ECB", Revision: 2, Corrects: "1.0842"},
		{From: "EUR", To: "USD", Rate: "1.0851", Period: domain.FXDay, EffectiveOn: d, Source: "ECB", Revision: 3, Corrects: "1.09"},
		{From: "EUR", To: "USD", Rate: "1.07", Period: domain.FXMonth, EffectiveOn: m, Source: "treasury", Revision: 1},
		// Written before revisions: no revision, disagreeing; the greater rate holds.
		{From: "JPY", To: "USD", Rate: "0.0065", Period: domain.FXMonth, EffectiveOn: m, Source: "treasury"},
		{From: "JPY", To: "USD", Rate: "0.00651", Period: domain.FXMonth, EffectiveOn: m, Source: "treasury"},
		{From: "JPY", To: "USD", Rate: "0.00651", Period: domain.FXMonth, EffectiveOn: m, Source: "bank"},
		{From: "USD", To: "JPY", Rate: "151.2", Period: domain.FXDay, EffectiveOn: d, Source: "treasury", Revision: 1},
	}
	want := map[string]string{"EUR": "1.0851", "JPY": "0.00651 treasury"}
	var first string
	rng := rand.New(rand.NewPCG(7, 11))
	for i := range 200 {
		order := slices.Clone(facts)
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		var s domain.FXRates
		for _, e := range order {
			s = domain.EvolveFX(s, e)
		}
		got := fmt.Sprint(s.List())
		if i == 0 {
			first = got
		} else if got != first {
			t.Fatalf("arrival order %d gives %s\nwant %s", i, got, first)
		}
		eur, _ := s.On("EUR", "USD", d)
		jpy, _ := s.On("JPY", "USD", d)
		if eur.Rate != want["EUR"] || jpy.Rate+" "+jpy.Source != want["JPY"] {
			t.Fatalf("in force: EUR %s, JPY %s %s; want %v", eur.Rate, jpy.Rate, jpy.Source, want)
		}
	}
}
