package daemon_test

import (
	"encoding/json"
	"testing"
	"time"

	"dealcredit/consumers/oemfeed"
	"dealcredit/domain"
)

// A field rep's statement after a channel deal closes on an HP invoice
// (issue 15 item 4): the enterprise rep of emea is credited the line at
// field_rep_bps (10000 by default); the mid-market rep is not, nor is a rep
// of another geography.
func TestRepStatementAfterHPInvoice(t *testing.T) {
	e := newE2E(t)
	T := e.today
	e.call("POST", "/v1/partners", "channel_manager", map[string]any{"id": "hp", "name": "HP", "kind": "oem", "geography": "emea"}, 201)
	e.partner("var-g", domain.TierGold)
	for id, terr := range map[string][2]string{"rep-ent": {"emea", "enterprise"}, "rep-mid": {"emea", "mid-market"}, "rep-us": {"us-west", "enterprise"}} {
		e.call("PUT", "/v1/reps/"+id, "channel_manager", map[string]any{"name": id, "geography": terr[0], "size_band": terr[1]}, 200)
	}
	e.call("PUT", "/v1/reps/rep-ent", "channel_manager", map[string]any{"name": "rep-ent", "geography": "emea", "size_band": "enterprise"}, 409)
	e.call("PUT", "/v1/reps/rep-x", "channel_manager", map[string]any{"name": "rep-x", "geography": "emea"}, 400)
	c := oemfeed.Customer{OEMAccountID: "HP-7", Name: "Umbrella AG", Country: "DE", Domain: "umbrella.example"}
	var reg struct {
		DealID string `json:"deal_id"`
	}
	b := e.call("POST", "/v1/deals", "channel_manager", map[string]any{"partner_id": "var-g", "geography": "emea", "size_band": "enterprise",
		"customer": map[string]any{"name": c.Name, "country": c.Country, "domain": c.Domain}, "segments": []string{"client_management"},
		"expected_value_minor": 500_000, "currency": "EUR"}, 201)
	if err := json.Unmarshal(b, &reg); err != nil {
		t.Fatal(err)
	}
	e.approve(reg.DealID)
	e.call("POST", "/v1/deals/"+reg.DealID+"/won", "partner", map[string]any{"reason": "PO signed"}, 404) // the demo partner's token: not its deal
	e.call("POST", "/v1/deals/"+reg.DealID+"/won", "channel_manager", map[string]any{"reason": "PO signed"}, 200)
	var deal struct {
		SizeBand string `json:"size_band"`
		Status   string `json:"status"`
	}
	if err := json.Unmarshal(e.call("GET", "/v1/deals/"+reg.DealID, "channel_manager", nil, 200), &deal); err != nil || deal.SizeBand != "enterprise" || deal.Status != "won" {
		t.Fatalf("deal: %+v %v", deal, err)
	}
	e.publish(hp("HP-REP-1", 1, T, c, "EUR", clientLine(1_234_500)))

	type stmt struct {
		Data []struct {
			Currency string `json:"currency"`
			Credit   int64  `json:"credit_minor"`
			Lines    int    `json:"lines"`
			Deals    int    `json:"deals"`
		} `json:"data"`
	}
	read := func(rep string) stmt {
		var s stmt
		if err := json.Unmarshal(e.call("GET", "/v1/reps/"+rep+"/statements/current", "finance", nil, 200), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := read("rep-ent")
		if len(s.Data) == 1 {
			if d := s.Data[0]; d.Currency != "EUR" || d.Credit != 1_234_500 || d.Lines != 1 || d.Deals != 1 {
				t.Fatalf("rep-ent statement %+v, want EUR 1234500 on 1 line of 1 deal", d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rep-ent was never credited: %+v", s)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
	for _, rep := range []string{"rep-mid", "rep-us"} {
		if s := read(rep); len(s.Data) != 0 {
			t.Errorf("%s credited %+v, want nothing", rep, s.Data)
		}
	}
	e.call("GET", "/v1/reps/rep-none/statements/current", "finance", nil, 404)
	e.call("GET", "/v1/reps/rep-ent/statements/current", "partner", nil, 403)
}
