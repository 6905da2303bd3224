package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"dealcredit/api"
	"dealcredit/domain"
	"dealcredit/projections/attribution"
	"dealcredit/projections/runner"
)

// mixQueries is logQueries whose revenue mix is a fixed USD, EUR and JPY mix
// of 2026Q1 and whose statement has EUR and USD rows, the scorecard (target
// 50,000.00 USD) on the USD row.
type mixQueries struct{ logQueries }

var fxMix = []attribution.Mix{
	{Quarter: "2026Q1", Currency: "EUR", DirectMinor: 100_000, IndirectMinor: 300_000, AdjustmentIndirectMinor: -10_001},
	{Quarter: "2026Q1", Currency: "JPY", DirectMinor: 2_000_000, IndirectMinor: 8_000_001},
	{Quarter: "2026Q1", Currency: "USD", DirectMinor: 50_000, IndirectMinor: 150_000},
	// A quarter of 800 million USD (TestReportingLargeQuarter).
	{Quarter: "2025Q4", Currency: "USD", DirectMinor: 70_000_000_000, IndirectMinor: 10_000_000_000},
}

func (q *mixQueries) RevenueMix(ctx context.Context, quarter string) ([]attribution.Mix, int64, error) {
	var out []attribution.Mix
	for _, m := range fxMix {
		if m.Quarter == quarter {
			out = append(out, m)
		}
	}
	return out, 0, nil
}

func (q *mixQueries) Statements(ctx context.Context, partnerID, quarter string) ([]attribution.Statement, runner.ReadState, error) {
	st, err := q.state(ctx)
	return []attribution.Statement{
		{PartnerID: partnerID, Quarter: quarter, Currency: "EUR", CreditedRevenue: 4_000_000, Rebates: 200_000, ScorecardCurrency: "USD"},
		{PartnerID: partnerID, Quarter: quarter, Currency: "USD", CreditedRevenue: 1_000_000, Rebates: 50_000,
			QuarterlyTarget: 5_000_000, TargetCurrency: "USD", ScorecardCurrency: "USD"},
	}, st, err
}

type reported struct {
	Data struct {
		ReportingCurrency string `json:"reporting_currency"`
		RateDate          string `json:"rate_date"`
		Complete          bool   `json:"complete"`
		DirectMinor       *int64 `json:"direct_minor"`
		IndirectMinor     *int64 `json:"indirect_minor"`
		IndirectShareBPS  *int64 `json:"indirect_share_bps"`
		Rows              []struct {
			Currency         string `json:"currency"`
			DirectMinor      *int64 `json:"direct_minor"`
			IndirectMinor    *int64 `json:"indirect_minor"`
			AdjIndirectMinor *int64 `json:"adjustment_indirect_minor"`
			Rate             *struct {
				Rate        string `json:"rate"`
				Period      string `json:"period"`
				EffectiveOn string `json:"effective_on"`
				Source      string `json:"source"`
			} `json:"rate"`
			Missing *domain.FXMissing `json:"missing"`
		} `json:"rows"`
		Missing []domain.FXMissing `json:"missing"`
	} `json:"data"`
}

// TestReportingCurrencyMix records rates and a reporting currency through
// the API and reads the 2026Q1 mix in USD: exact figures, each row naming its
// rate; then in EUR, where the JPY rate is missing: incomplete, no totals,
// the missing pair and date named.
func TestReportingCurrencyMix(t *testing.T) {
	a := mustAPI(t, func(d *api.Deps) { d.Queries = &mixQueries{logQueries{store: d.Store}} })
	a.seed(t)
	path := "/v1/revenue-mix/reporting?quarter=2026Q1"
	if p := a.must(t, 422, "GET", path, tokFinance, nil).json(t); p["field"] != "reporting_currency" {
		t.Fatalf("without a reporting currency: %v", p)
	}
	for _, r := range []map[string]string{
		{"from": "EUR", "to": "USD", "rate": "1.0842", "period": "day", "effective_on": "2026-03-31", "source": "ECB reference rate"},
		{"from": "EUR", "to": "USD", "rate": "9", "period": "month", "effective_on": "2026-03-17", "source": "superseded by the day rate"},
		{"from": "JPY", "to": "USD", "rate": "0.0065", "period": "month", "effective_on": "2026-03-01", "source": "treasury"},
		{"from": "USD", "to": "EUR", "rate": "0.9223", "period": "month", "effective_on": "2026-03-01", "source": "ECB"},
	} {
		if got := a.must(t, 200, "POST", "/v1/fx-rates", tokFinance, r).json(t); len(got["events"].([]any)) != 1 {
			t.Fatalf("record %v: %v", r, got)
		}
	}
	// The same rate again appends nothing.
	again := map[string]string{"from": "JPY", "to": "USD", "rate": "0.00650", "period": "month", "effective_on": "2026-03-20", "source": "treasury"}
	if got := a.must(t, 200, "POST", "/v1/fx-rates", tokAdmin, again).json(t); len(got["events"].([]any)) != 0 {
		t.Fatalf("same rate again: %v", got)
	}
	var list struct{ Rates []domain.FXRateSet }
	if err := json.Unmarshal(a.must(t, 200, "GET", "/v1/fx-rates", tokAuditor, nil).Body, &list); err != nil || len(list.Rates) != 4 {
		t.Fatalf("rates: %+v, %v", list, err)
	}
	a.must(t, 200, "PUT", "/v1/policy", tokAdmin, map[string]any{"effective_from": "2026-05-15", "rebate_bps": map[string]int{"gold": 500, "platinum": 800},
		"registration_days": 90, "claim_grace_days": 30, "reporting_currency": "USD"})

	var got reported
	if err := json.Unmarshal(a.must(t, 200, "GET", path, tokAuditor, nil).Body, &got); err != nil {
		t.Fatal(err)
	}
	// EUR at 1.0842: 1,084.20 / 3,252.60 / -108.43 (-10,843.0842 cents rounds to -10,843);
	// JPY at 0.0065: 13,000.00 / 52,000.0065 -> 52,000.01 (half-even on cents: 5200000.65 -> 5200001).
	wantDirect, wantIndirect := int64(108_420+1_300_000+50_000), int64(325_260+5_200_001+150_000)
	d := got.Data
	if !d.Complete || d.ReportingCurrency != "USD" || d.RateDate != "2026-03-31" || *d.DirectMinor != wantDirect || *d.IndirectMinor != wantIndirect {
		t.Fatalf("USD mix: %+v", d)
	}
	if want := domain.MulDiv(wantIndirect, 10_000, wantDirect+wantIndirect); *d.IndirectShareBPS != want {
		t.Errorf("share %d, want %d", *d.IndirectShareBPS, want)
	}
	eur := d.Rows[0]
	if eur.Currency != "EUR" || eur.Rate == nil || eur.Rate.Rate != "1.0842" || eur.Rate.Period != "day" || eur.Rate.Source != "ECB reference rate" || *eur.AdjIndirectMinor != -10_843 {
		t.Errorf("EUR row: %+v %+v", eur, eur.Rate)
	}
	if jpy := d.Rows[1]; jpy.Rate == nil || jpy.Rate.EffectiveOn != "2026-03-01" || jpy.Rate.Period != "month" {
		t.Errorf("JPY row: %+v", jpy)
	}

	// The scorecard: 40,000.00 EUR at 1.0842 = 43,368.00 USD + 10,000.00 USD against the
	// 50,000.00 USD target; a partner reads its own, not another's.
	var sc struct {
		Data struct {
			Complete             bool
			CreditedRevenueMinor int64 `json:"credited_revenue_minor"`
			TargetMinor          int64 `json:"quarterly_target_minor"`
			MeetsTarget          bool  `json:"meets_target"`
			Rows                 []struct {
				Rate struct {
					Rate string `json:"rate"`
				} `json:"rate"`
			} `json:"rows"`
		} `json:"data"`
	}
	if err := json.Unmarshal(a.must(t, 200, "GET", "/v1/partners/var-a/statements/2026Q1/reporting", tokVarA, nil).Body, &sc); err != nil {
		t.Fatal(err)
	}
	if s := sc.Data; !s.Complete || s.CreditedRevenueMinor != 4_336_800+1_000_000 || s.TargetMinor != 5_000_000 || !s.MeetsTarget || s.Rows[0].Rate.Rate != "1.0842" {
		t.Fatalf("scorecard in USD: %+v", s)
	}
	a.must(t, 404, "GET", "/v1/partners/var-a/statements/2026Q1/reporting", tokVarB, nil)

	// Reporting in EUR: USD has a rate, JPY -> EUR has none.
	a.must(t, 200, "PUT", "/v1/policy", tokAdmin, map[string]any{"effective_from": "2026-05-15", "rebate_bps": map[string]int{"gold": 500, "platinum": 800},
		"registration_days": 90, "claim_grace_days": 30, "reporting_currency": "EUR"})
	got = reported{}
	body := a.must(t, 200, "GET", path, tokFinance, nil).Body
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	d = got.Data
	want := domain.FXMissing{From: "JPY", To: "EUR", On: domain.MustDate("2026-03-31")}
	if d.Complete || d.DirectMinor != nil || d.IndirectShareBPS != nil || len(d.Missing) != 1 || d.Missing[0] != want {
		t.Fatalf("EUR mix must be incomplete naming JPY->EUR on 2026-03-31: %s", body)
	}
	if jpy := d.Rows[1]; jpy.DirectMinor != nil || jpy.Missing == nil || *jpy.Missing != want {
		t.Errorf("JPY row carries a figure: %s", body)
	}
	if usd := d.Rows[2]; usd.DirectMinor == nil || *usd.DirectMinor != 46_115 { // 500.00 x 0.9223 = 461.15
		t.Errorf("USD row: %s", body)
	}
}

// TestFXRateBadInput: each bad rate is a 4xx problem naming the field, and
// nothing is appended.
func TestFXRateBadInput(t *testing.T) {
	a := mustAPI(t)
	ok := map[string]any{"from": "EUR", "to": "USD", "rate": "1.0842", "period": "day", "effective_on": "2026-03-31", "source": "ECB"}
	tests := []struct {
		name   string
		key    string
		value  any
		status int
		field  string
	}{
		{"zero rate", "rate", "0", 400, "rate"},
		{"negative rate", "rate", "-1.08", 400, "rate"},
		{"float rate", "rate", 1.0842, 400, "rate"},
		{"exponent", "rate", "1e3", 400, "rate"},
		{"overflowing rate", "rate", "92233720368547758070", 400, "rate"},
		{"too many decimals", "rate", "1.0000000000001", 400, "rate"},
		{"unknown currency", "from", "XXX", 400, "from"},
		{"same currency", "to", "EUR", 400, "to"},
		{"period", "period", "week", 400, "period"},
		{"absurd date", "effective_on", "1066-10-14", 400, "effective_on"},
		{"not a date", "effective_on", "2026-02-30", 400, "effective_on"},
		{"future", "effective_on", "2027-01-01", 422, "effective_on"},
		{"no source", "source", "", 400, "source"},
		{"NUL in source", "source", "ECB\u0000", 400, "source"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{}
			for k, v := range ok {
				body[k] = v
			}
			body[tc.key] = tc.value
			p := a.must(t, tc.status, "POST", "/v1/fx-rates", tokFinance, body).json(t)
			if p["field"] != tc.field || !strings.Contains(p["detail"].(string), tc.field) {
				t.Errorf("problem %v; want field %s", p, tc.field)
			}
		})
	}
	var list struct{ Rates []domain.FXRateSet }
	if err := json.Unmarshal(a.must(t, 200, "GET", "/v1/fx-rates", tokFinance, nil).Body, &list); err != nil || len(list.Rates) != 0 {
		t.Fatalf("bad input appended rates: %+v, %v", list, err)
	}
	a.must(t, 403, "POST", "/v1/fx-rates", tokCM, ok)
	p := a.must(t, 400, "PUT", "/v1/policy", tokAdmin, map[string]any{"effective_from": "2026-05-15", "rebate_bps": map[string]int{"gold": 500, "platinum": 800},
		"registration_days": 90, "claim_grace_days": 30, "reporting_currency": "usd"}).json(t)
	if p["field"] != "reporting_currency" {
		t.Errorf("bad reporting currency: %v", p)
	}
}

// TestReportingLargeQuarter: a quarter of 800 million USD reported in IDR
// (its direct 1.12 x 10^15 minor units, past one amount's bound but within the 10^18 of
// docs/finance.md) is a complete report, not a 400 naming a field the caller
// never sent.
func TestReportingLargeQuarter(t *testing.T) {
	a := mustAPI(t, func(d *api.Deps) { d.Queries = &mixQueries{logQueries{store: d.Store}} })
	a.seed(t)
	a.must(t, 200, "POST", "/v1/fx-rates", tokFinance, map[string]string{"from": "USD", "to": "IDR", "rate": "16000", "period": "day",
		"effective_on": "2025-12-31", "source": "treasury"})
	a.must(t, 200, "PUT", "/v1/policy", tokAdmin, map[string]any{"effective_from": "2026-05-15", "rebate_bps": map[string]int{"gold": 500, "platinum": 800},
		"registration_days": 90, "claim_grace_days": 30, "reporting_currency": "IDR"})
	r := a.do(t, "GET", "/v1/revenue-mix/reporting?quarter=2025Q4", tokFinance, nil)
	if r.Status != 200 {
		t.Fatalf("status %d, want 200: %s", r.Status, r.Body)
	}
	var got reported
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	if d := got.Data; !d.Complete || d.DirectMinor == nil || *d.DirectMinor != 1_120_000_000_000_000 || *d.IndirectMinor != 160_000_000_000_000 ||
		*d.IndirectShareBPS != 1250 {
		t.Fatalf("IDR mix of 2025Q4: %s", r.Body)
	}
}
