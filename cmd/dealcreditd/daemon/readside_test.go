package daemon_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"dealcredit/consumers/oemfeed"
	"dealcredit/domain"
)

// A Platinum partner credited in USD and EUR, through the API and the feed
// (issue 13 item 6): one statement row per currency, current_tier beside
// eligible_tier, the USD scorecard on the USD row only, each unmet
// requirement a sentence in major units. Before: the EUR row carried the USD
// scorecard and the requirement read in minor units.
func TestStatementPerCurrencyThroughAPI(t *testing.T) {
	e := newE2E(t)
	T := e.today
	e.call("POST", "/v1/partners", "channel_manager", map[string]any{"id": "hp", "name": "HP", "kind": "oem", "geography": "emea"}, 201)
	e.partner("var-p", domain.TierPlatinum)
	c := oemfeed.Customer{OEMAccountID: "HP-9", Name: "Hooli SE", Country: "DE", Domain: "hooli.example"}
	e.approve(e.deal("var-p", c.Name, c.Domain))
	// 6,900.00 USD and 1,000.00 EUR of client management, both at platinum 800 bps.
	e.publish(hp("HP-USD", 1, T, c, "USD", clientLine(690_000)))
	e.publish(hp("HP-EUR", 1, T, c, "EUR", clientLine(100_000)))

	type stmt struct {
		Currency          string   `json:"currency"`
		Revenue           int64    `json:"credited_revenue_minor"`
		Rebates           int64    `json:"rebates_minor"`
		CurrentTier       string   `json:"current_tier"`
		EligibleTier      string   `json:"eligible_tier"`
		Target            int64    `json:"quarterly_target_minor"`
		TargetCurrency    string   `json:"target_currency"`
		Credited          int64    `json:"scorecard_credited_minor"`
		ScorecardCurrency string   `json:"scorecard_currency"`
		Unmet             []string `json:"unmet"`
	}
	var got []stmt
	deadline := time.Now().Add(30 * time.Second)
	for {
		var env struct {
			Data []stmt `json:"data"`
		}
		b := e.call("GET", "/v1/partners/var-p/statements/current", "finance", nil, 200)
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatalf("statement: %v %s", err, b)
		}
		got = env.Data
		if len(got) == 2 && got[0].Revenue == 100_000 && got[1].Revenue == 690_000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("statements did not show both invoices: %s", b)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
	want := []stmt{
		{Currency: "EUR", Revenue: 100_000, Rebates: 8_000, CurrentTier: "platinum", ScorecardCurrency: "USD", Unmet: []string{}},
		{Currency: "USD", Revenue: 690_000, Rebates: 55_200, CurrentTier: "platinum", EligibleTier: "registered", Target: 30_000_000,
			TargetCurrency: "USD", Credited: 690_000, ScorecardCurrency: "USD", Unmet: []string{
				"platinum tier needs credited revenue of at least 250,000.00 USD in " + T.Quarter().String() + "; has 6,900.00 USD"}},
	}
	for i := range want {
		g, w := got[i], want[i]
		if fmt.Sprintf("%+v", g) != fmt.Sprintf("%+v", w) || !slices.Equal(g.Unmet, w.Unmet) {
			t.Errorf("statement row %d\n got %+v\nwant %+v", i, g, w)
		}
	}
}
