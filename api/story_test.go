package api_test

import (
	"strings"
	"testing"

	"dealcredit/api"
)

// TestTierJourney: a partner earns platinum through certifications and a
// commitment; a full geography waitlists a tier change with a 422 naming
// the rule.
func TestTierJourney(t *testing.T) {
	a := mustAPI(t)
	a.must(t, 201, "POST", "/v1/partners", tokCM, map[string]any{"id": "var-p", "name": "Plat", "kind": "var", "geography": "us-east"})
	r := a.must(t, 422, "POST", "/v1/partners/var-p/tier", tokCM, map[string]any{"tier": "platinum", "reason": "ambition"})
	if !strings.Contains(string(r.Body), "tier.platinum.certified_engineers") {
		t.Errorf("unmet rule not named: %s", r.Body)
	}
	for _, eng := range []string{"ann", "bob"} {
		a.must(t, 201, "POST", "/v1/partners/var-p/certifications", tokCM, map[string]any{"engineer": eng, "segment": "client_management", "certified_on": "2026-04-01"})
	}
	a.must(t, 201, "POST", "/v1/partners/var-p/commitments", tokCM, map[string]any{
		"segments": []string{"client_management", "server_management", "asset_management"}, "quarterly_target_minor": 30_000_000, "currency": "USD"})
	a.must(t, 200, "POST", "/v1/partners/var-p/tier", tokCM, map[string]any{"tier": "platinum", "reason": "requirements met"})
	p := a.must(t, 200, "GET", "/v1/partners/var-p", tokFinance, nil).json(t)
	if p["tier"] != "platinum" {
		t.Errorf("tier %v", p["tier"])
	}
	if prog := p["tier_progress"].(map[string]any)["platinum"].([]any); len(prog) != 0 {
		t.Errorf("platinum progress still lists %v", prog)
	}

	a.must(t, 200, "PUT", "/v1/geographies/apac/seats", tokAdmin, map[string]any{"platinum": 0, "gold": 1})
	for _, id := range []string{"var-q", "var-r"} {
		a.must(t, 201, "POST", "/v1/partners", tokCM, map[string]any{"id": id, "name": id, "kind": "si", "geography": "apac"})
		a.must(t, 201, "POST", "/v1/partners/"+id+"/certifications", tokCM, map[string]any{"engineer": "cy", "segment": "asset_management", "certified_on": "2026-04-01"})
		a.must(t, 201, "POST", "/v1/partners/"+id+"/commitments", tokCM, map[string]any{"segments": []string{"asset_management"}, "quarterly_target_minor": 6_000_000, "currency": "USD"})
	}
	a.must(t, 200, "POST", "/v1/partners/var-q/tier", tokCM, map[string]any{"tier": "gold", "reason": "ok"})
	r = a.must(t, 422, "POST", "/v1/partners/var-r/tier", tokCM, map[string]any{"tier": "gold", "reason": "ok"})
	if !strings.Contains(string(r.Body), "seats.full") || r.Header.Get(api.PositionHeader) == "" {
		t.Errorf("full seats: %s (position %q)", r.Body, r.Header.Get(api.PositionHeader))
	}
}

// TestDealLifecycle: a partner registers and works its deal; a channel
// manager approves and extends it; finance closes the quarter once.
func TestDealLifecycle(t *testing.T) {
	a := mustAPI(t)
	a.seed(t)
	d := a.must(t, 201, "POST", "/v1/deals", tokVarA, dealBody("", "Acme Corp")).json(t)
	id := d["deal_id"].(string)
	if d["status"] != "pending" {
		t.Errorf("status %v", d["status"])
	}
	for _, step := range []string{"presales_support", "proof_of_concept"} {
		a.must(t, 201, "POST", "/v1/deals/"+id+"/engagements", tokVarA, map[string]any{"step": step, "occurred_on": "2026-05-10", "oem_id": "hp"})
	}
	a.must(t, 404, "POST", "/v1/deals/"+id+"/engagements", tokVarB, map[string]any{"step": "deployment", "occurred_on": "2026-05-10"})
	r := a.must(t, 200, "POST", "/v1/deals/"+id+"/approve", tokCM, nil).json(t)
	if r["status"] != "approved" {
		t.Errorf("approve: %v", r)
	}
	a.must(t, 409, "POST", "/v1/deals/"+id+"/approve", tokCM, nil)
	a.must(t, 200, "POST", "/v1/deals/"+id+"/extend", tokCM, nil)

	// A second partner's registration of the same customer is flagged as a conflict.
	d2 := a.must(t, 201, "POST", "/v1/deals", tokVarB, dealBody("", "ACME corp")).json(t)
	// The partner learns that another partner holds the customer, never which.
	if d2["status"] != "conflict" || len(d2["conflicts_with"].([]any)) != 0 || d2["conflict"] != "another partner has registered this customer" {
		t.Errorf("second registration: %v", d2)
	}

	got := a.must(t, 200, "GET", "/v1/deals/"+id, tokVarA, nil).json(t)
	if got["status"] != "approved" || len(got["engagements"].([]any)) != 2 || got["expires_on"] == nil || got["extensions"].(float64) != 1 {
		t.Errorf("deal view: %v", got)
	}
	a.must(t, 404, "GET", "/v1/deals/"+id, tokVarB, nil)

	a.must(t, 200, "POST", "/v1/quarters/2026Q1/close", tokFinance, nil)
	r2 := a.must(t, 409, "POST", "/v1/quarters/2026Q1/close", tokFinance, nil)
	if !strings.Contains(string(r2.Body), "quarter.closed_once") {
		t.Errorf("second close: %s", r2.Body)
	}
	a.must(t, 200, "POST", "/v1/deals/"+id+"/withdraw", tokVarA, nil)
}
