package daemon_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"dealcredit/consumers/oemfeed"
	"dealcredit/domain"
)

// TestIssue13PartnerHistoryThroughAPIAndFeed: a VAR enrolled today (T) with its history
// "gold since 2024-01-01" (issue 13, Deliver 4) claims an invoice dated T-20, before its
// enrolment in the system, and gets the Gold rebate. Default policy: Gold 500 bps,
// registered 0 bps, claim grace 30 days. By hand: 8,000,000 x 5% = 400,000. Before: the
// rate lookup before enrolment said registered, 0 bps (rebate 0).
func TestIssue13PartnerHistoryThroughAPIAndFeed(t *testing.T) {
	e := newE2E(t)
	T := e.today
	e.call("POST", "/v1/partners", "channel_manager", map[string]any{"id": "hp", "name": "HP", "kind": "oem", "geography": "emea"}, 201)

	// Bad history is a 400 naming the field: out of order, in the future.
	for _, tc := range []struct {
		hist  []map[string]string
		field string
	}{
		{[]map[string]string{{"tier": "gold", "from": "2024-01-01"}, {"tier": "platinum", "from": "2023-01-01"}}, "tier_history[1].from"},
		{[]map[string]string{{"tier": "gold", "from": T.AddDays(1).String()}}, "tier_history[0].from"},
		{[]map[string]string{{"tier": "diamond", "from": "2024-01-01"}}, "tier_history[0].tier"},
	} {
		b := e.call("POST", "/v1/partners", "channel_manager", map[string]any{"id": "var-bad", "name": "Bad", "kind": "var",
			"geography": "emea", "tier_history": tc.hist}, 400)
		if !strings.Contains(string(b), tc.field) {
			t.Errorf("history %v: problem %s does not name %s", tc.hist, b, tc.field)
		}
	}

	// var-h joined in 2019 as registered, gold since 2024-01-01; enrolled in the system
	// today at registered, then promoted to gold today (it must be gold to register deals).
	e.partner("var-h", domain.TierGold, map[string]any{"joined_on": "2019-03-01",
		"tier_history": []map[string]string{{"tier": "registered", "from": "2019-03-01"}, {"tier": "gold", "from": "2024-01-01"}}})

	// A late claim (rule 13): engagement logged for T-21, invoice dated T-20, deal approved
	// today. The rate on T-20 comes from the history: gold, 500 bps.
	stark := oemfeed.Customer{OEMAccountID: "HP-H1", Name: "Stark GmbH", Country: "DE", Domain: "stark.example"}
	d := e.deal("var-h", stark.Name, stark.Domain)
	e.engage(d, T.AddDays(-21))
	e.approve(d)
	e.publish(hp("HP-H1", 1, T.AddDays(-20), stark, "USD", clientLine(8_000_000)))
	days := []domain.Date{T.AddDays(-20), T}
	rows := e.until("history rate", "HP-H1", days, func(r []row) bool { return figure(r, "revenue", "var-h") == 8_000_000 })
	if got := figure(rows, "rebate", "var-h"); got != 400_000 {
		t.Errorf("rebate %d, want 400,000 (gold since 2024-01-01):\n%s", got, dump(rows))
	}
}

// TestIssue13SeatOfferThroughAPIAndReadModel: rule 4 first come, first served (issue 13,
// Deliver 5), through the HTTP API and the seats read model. One Gold seat in geography
// fcfs, held by var-1; var-2 then var-3 ask for Gold and are waitlisted (positions 1, 2).
// var-1 is demoted today (T): the seat is offered to var-2 through T+14. var-3 is refused
// with seats.offered; the read model shows the offer; var-2 takes the seat and the offer
// goes. Before: var-3 took the seat while var-2 stayed waitlisted.
func TestIssue13SeatOfferThroughAPIAndReadModel(t *testing.T) {
	e := newE2E(t)
	T := e.today
	e.call("PUT", "/v1/geographies/fcfs/seats", "admin", map[string]any{"platinum": 1, "gold": 1}, 200)
	for _, id := range []string{"var-1", "var-2", "var-3"} {
		e.call("POST", "/v1/partners", "channel_manager", map[string]any{"id": id, "name": id, "kind": "var", "geography": "fcfs"}, 201)
		e.call("POST", "/v1/partners/"+id+"/certifications", "channel_manager", map[string]any{"engineer": id + "-eng",
			"segment": "client_management", "certified_on": T.String()}, 201)
		e.call("POST", "/v1/partners/"+id+"/commitments", "channel_manager", map[string]any{"segments": []string{"client_management"},
			"quarterly_target_minor": 6_000_000, "currency": "USD"}, 201)
	}
	gold := map[string]any{"tier": "gold", "reason": "requirements met"}
	e.call("POST", "/v1/partners/var-1/tier", "channel_manager", gold, 200)
	for _, id := range []string{"var-2", "var-3"} {
		if b := e.call("POST", "/v1/partners/"+id+"/tier", "channel_manager", gold, 422); !strings.Contains(string(b), "seats.full") {
			t.Fatalf("%s: %s", id, b)
		}
	}
	e.call("POST", "/v1/partners/var-1/tier", "channel_manager", map[string]any{"tier": "registered", "reason": "left"}, 200)
	b := e.call("POST", "/v1/partners/var-3/tier", "channel_manager", gold, 422)
	if !strings.Contains(string(b), "seats.offered") || !strings.Contains(string(b), "var-2") || !strings.Contains(string(b), T.AddDays(14).String()) {
		t.Fatalf("var-3 during the offer: %s", b)
	}
	e.seatsUntil("offer shown", func(s tierSeats) bool {
		return s.OfferedTo == "var-2" && s.OfferUntil == T.AddDays(14).String() && s.Used == 0 && s.Waitlisted == 2
	})
	e.call("POST", "/v1/partners/var-2/tier", "channel_manager", gold, 200)
	e.seatsUntil("offer taken", func(s tierSeats) bool {
		return s.OfferedTo == "" && s.OfferUntil == "" && s.Used == 1 && s.Waitlisted == 1
	})
}

type tierSeats struct {
	Tier       string `json:"tier"`
	Used       int    `json:"used"`
	Waitlisted int    `json:"waitlisted"`
	OfferedTo  string `json:"offered_to"`
	OfferUntil string `json:"offer_until"`
}

// seatsUntil polls geography fcfs's Gold seats until cond holds (30 s at most).
func (e *e2e) seatsUntil(what string, cond func(tierSeats) bool) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var res struct {
			Data struct {
				Tiers []tierSeats `json:"tiers"`
			} `json:"data"`
		}
		b := e.call("GET", "/v1/geographies/fcfs/seats", "channel_manager", nil, 200, 404)
		_ = json.Unmarshal(b, &res)
		for _, s := range res.Data.Tiers {
			if s.Tier == "gold" && cond(s) {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: seats never matched: %s", what, b)
		}
		time.Sleep(100 * time.Millisecond) // poll interval, bounded by the deadline
	}
}
