package daemon_test

import (
	"encoding/json"
	"strings"
	"testing"

	"dealcredit/consumers/oemfeed"
	"dealcredit/domain"
)

// reportedMix is the data of GET /v1/revenue-mix/reporting (the fields read here).
type reportedMix struct {
	ReportingCurrency string `json:"reporting_currency"`
	RateDate          string `json:"rate_date"`
	Complete          bool   `json:"complete"`
	DirectMinor       *int64 `json:"direct_minor"`
	IndirectMinor     *int64 `json:"indirect_minor"`
	IndirectShareBPS  *int64 `json:"indirect_share_bps"`
	Rows              []struct {
		Currency      string `json:"currency"`
		IndirectMinor *int64 `json:"indirect_minor"`
		Rate          *struct {
			Rate, Period, Source string
			EffectiveOn          string `json:"effective_on"`
		} `json:"rate"`
	} `json:"rows"`
	Missing []struct{ From, To, On string } `json:"missing"`
}

// reportedMixOf reads quarter's mix in the reporting currency.
func (e *e2e) reportedMixOf(q domain.Quarter) reportedMix {
	e.t.Helper()
	var res struct{ Data reportedMix }
	if err := json.Unmarshal(e.call("GET", "/v1/revenue-mix/reporting?quarter="+q.String(), "finance", nil, 200), &res); err != nil {
		e.t.Fatal(err)
	}
	return res.Data
}

// Issue 14 item 3, through the feed and the API: USD, EUR and JPY invoices of last
// quarter, the rates posted as facts, the company-wide mix in USD naming each rate; one
// rate missing makes it incomplete and names the pair and date; a different rate for a
// pair and date already recorded is refused unless it names the rate it corrects.
func TestReportingCurrencyThroughFeedAndAPI(t *testing.T) {
	e := newE2E(t)
	q := e.today.Quarter().Prev()
	day := q.End()
	e.call("POST", "/v1/partners", "channel_manager", map[string]any{"id": "hp", "name": "HP", "kind": "oem", "geography": "emea"}, 201)
	e.call("PUT", "/v1/policy", "admin", map[string]any{"effective_from": e.today.String(), "rebate_bps": map[string]int{"gold": 500, "platinum": 800},
		"registration_days": 90, "claim_grace_days": 30, "reporting_currency": "USD"}, 200)
	maint := func(amount int64) oemfeed.Line {
		return oemfeed.Line{Line: 2, SKU: "ALT-MNT-1Y", Segment: "maintenance", Quantity: 1, UnitPriceMinor: amount, AmountMinor: amount}
	}
	cust := oemfeed.Customer{OEMAccountID: "HP-FX", Name: "Globex", Country: "DE"}
	// Nobody registered Globex: the software lines are unattributed (indirect), maintenance direct.
	e.publish(hp("HP-USD", 1, day.AddDays(-3), cust, "USD", clientLine(300_000), maint(100_000)))
	e.publish(hp("HP-EUR", 1, day.AddDays(-2), cust, "EUR", clientLine(200_000)))
	e.publish(hp("HP-JPY", 1, day.AddDays(-1), cust, "JPY", maint(50_000)))
	for _, n := range []string{"HP-USD", "HP-EUR", "HP-JPY"} {
		e.until("ingest", n, []domain.Date{day}, func(rs []row) bool { return len(rs) > 0 })
	}

	e.call("POST", "/v1/fx-rates", "finance", map[string]any{"from": "EUR", "to": "USD", "rate": "1.1", "period": "day",
		"effective_on": day.String(), "source": "ECB reference rate"}, 200)
	// JPY has no rate yet: incomplete, naming the pair and the quarter's last day, no totals.
	m := e.reportedMixOf(q)
	if m.Complete || m.DirectMinor != nil || m.IndirectShareBPS != nil || len(m.Missing) != 1 ||
		m.Missing[0].From != "JPY" || m.Missing[0].To != "USD" || m.Missing[0].On != day.String() {
		t.Fatalf("without a JPY rate: %+v", m)
	}

	e.call("POST", "/v1/fx-rates", "finance", map[string]any{"from": "JPY", "to": "USD", "rate": "0.0065", "period": "month",
		"effective_on": day.String(), "source": "treasury"}, 200)
	// USD 100,000 direct + 300,000 indirect; EUR 200,000 x 1.1 = 220,000 indirect;
	// JPY 50,000 x 0.0065 = 325.00 USD = 32,500 direct: 520,000 / 652,500 = 79.69%.
	m = e.reportedMixOf(q)
	if !m.Complete || m.ReportingCurrency != "USD" || m.RateDate != day.String() || *m.DirectMinor != 132_500 || *m.IndirectMinor != 520_000 ||
		*m.IndirectShareBPS != domain.MulDiv(520_000, 10_000, 652_500) || *m.IndirectShareBPS != 7969 || len(m.Missing) != 0 {
		t.Fatalf("complete mix: %+v", m)
	}
	rates := map[string]string{}
	for _, r := range m.Rows {
		if r.Rate != nil {
			rates[r.Currency] = r.Rate.Rate + " " + r.Rate.Period + " " + r.Rate.EffectiveOn + " " + r.Rate.Source
		}
	}
	monthStart := day.AddDays(1 - day.Time().Day())
	if rates["EUR"] != "1.1 day "+day.String()+" ECB reference rate" || rates["JPY"] != "0.0065 month "+monthStart.String()+" treasury" || len(rates) != 2 {
		t.Errorf("rates named by the rows: %v", rates)
	}

	// Another EUR rate for the same day: refused, naming the recorded one; named as a
	// correction of 1.1 it is revision 2 and in force.
	var p struct {
		Status              int
		Field, Rule, Detail string
	}
	b := e.call("POST", "/v1/fx-rates", "finance", map[string]any{"from": "EUR", "to": "USD", "rate": "1.2", "period": "day",
		"effective_on": day.String(), "source": "ECB reference rate"}, 409)
	if err := json.Unmarshal(b, &p); err != nil || p.Rule != "fx.rate_recorded" || p.Field != "rate" || !strings.Contains(p.Detail, "already 1.1") {
		t.Fatalf("conflicting rate: %s", b)
	}
	e.call("POST", "/v1/fx-rates", "admin", map[string]any{"from": "EUR", "to": "USD", "rate": "1.2", "period": "day",
		"effective_on": day.String(), "source": "ECB reference rate", "corrects": "1.1", "reason": "keyed the wrong day"}, 200)
	var list struct{ Rates []domain.FXRateSet }
	if err := json.Unmarshal(e.call("GET", "/v1/fx-rates", "auditor", nil, 200), &list); err != nil || len(list.Rates) != 2 {
		t.Fatalf("rates: %+v, %v", list, err)
	}
	if r := list.Rates[0]; r.From != "EUR" || r.Rate != "1.2" || r.Revision != 2 || r.Corrects != "1.1" {
		t.Errorf("EUR after the correction: %+v", r)
	}
	// The rates are read from the log when the report is read: in force at once.
	if m = e.reportedMixOf(q); *m.IndirectMinor != 540_000 {
		t.Fatalf("after the correction the mix is %+v, want 540,000 indirect", m)
	}
}
