package api_test

import "testing"

// TestGrandfatheredDemotionThroughAPI: rule 5 (issue 13, Deliver 5): a grandfathered
// partner is not demoted before its review date; a channel manager gets 422 naming the
// rule, an override by anyone but an admin is 403, an admin's override with a reason goes
// through and is recorded on the event.
func TestGrandfatheredDemotionThroughAPI(t *testing.T) {
	a := mustAPI(t)
	a.seed(t) // var-a grandfathered gold, review at the end of the next quarter
	demote := map[string]any{"tier": "registered", "reason": "missed target"}
	tests := []struct {
		name   string
		token  string
		body   map[string]any
		status int
		field  string
		rule   string
	}{
		{"plain demotion", tokCM, demote, 422, "tier", "tier.grandfathered"},
		{"override by a channel manager", tokCM, map[string]any{"tier": "registered", "reason": "x", "override": true}, 403, "override", "tier.override.admin"},
		{"override without a reason", tokAdmin, map[string]any{"tier": "registered", "override": true}, 400, "reason", ""},
		{"admin without override", tokAdmin, demote, 422, "tier", "tier.grandfathered"},
		{"override of a promotion", tokAdmin, map[string]any{"tier": "platinum", "reason": "x", "override": true}, 422, "tier", "tier.platinum.certified_engineers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := a.must(t, tc.status, "POST", "/v1/partners/var-a/tier", tc.token, tc.body).json(t)
			if p["field"] != tc.field || (tc.rule != "" && p["rule"] != tc.rule) {
				t.Fatalf("problem %v, want field %q rule %q", p, tc.field, tc.rule)
			}
		})
	}
	a.must(t, 200, "POST", "/v1/partners/var-a/tier", tokAdmin, map[string]any{"tier": "registered", "reason": "contract terminated", "override": true})
	got := a.must(t, 200, "GET", "/v1/events", tokAuditor, nil).json(t)
	evs, _ := got["events"].([]any)
	found := false
	for _, e := range evs {
		ev, _ := e.(map[string]any)
		d, _ := ev["data"].(map[string]any)
		if ev["type"] == "partner.tier_changed" && d["partner_id"] == "var-a" && d["override"] == true && d["reason"] == "contract terminated" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no recorded override in %v", got)
	}
}
