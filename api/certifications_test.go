package api_test

import (
	"strings"
	"testing"
)

// TestUnconfirmedCertificationDoesNotCount: docs/rules.md rule 3a (issue 15 item 6): a
// partner's own certification is pending until a channel manager confirms it; until then
// it does not count for the tier requirements (the promotion is refused naming the rule,
// the partner's view says it awaits confirmation); a refusal needs a reason and never
// counts; once confirmed, the promotion goes through.
func TestUnconfirmedCertificationDoesNotCount(t *testing.T) {
	a := mustAPI(t)
	a.must(t, 201, "POST", "/v1/partners", tokCM, map[string]any{"id": "var-a", "name": "A", "kind": "var", "geography": "emea"})
	a.must(t, 201, "POST", "/v1/partners/var-a/commitments", tokVarA, map[string]any{
		"segments": []string{"client_management"}, "quarterly_target_minor": 6_000_000, "currency": "USD"})
	sub := a.must(t, 201, "POST", "/v1/partners/var-a/certifications", tokVarA,
		map[string]any{"engineer": "ann", "segment": "client_management", "certified_on": "2026-04-01"}).json(t)
	if sub["id"] != "var-a" || sub["certification_id"] != "cert-1" || sub["status"] != "pending" {
		t.Fatalf("submission answered %v, want id var-a, certification_id cert-1, status pending", sub)
	}
	r := a.must(t, 422, "POST", "/v1/partners/var-a/tier", tokCM, map[string]any{"tier": "gold", "reason": "asked"})
	if p := r.json(t); p["rule"] != "tier.gold.certified_engineers" || !strings.Contains(p["detail"].(string), "awaiting a channel manager's confirmation") {
		t.Fatalf("promotion with an unconfirmed certification: %s", r.Body)
	}
	view := a.must(t, 200, "GET", "/v1/partners/var-a", tokVarA, nil).json(t)
	certs := view["certifications"].([]any)
	if len(certs) != 1 || certs[0].(map[string]any)["status"] != "pending" || certs[0].(map[string]any)["id"] != "cert-1" {
		t.Fatalf("partner view certifications %v, want cert-1 pending", certs)
	}

	// Who may decide, and with what.
	a.must(t, 403, "POST", "/v1/partners/var-a/certifications/cert-1/confirm", tokVarA, nil)
	a.must(t, 404, "POST", "/v1/partners/var-a/certifications/cert-9/confirm", tokCM, nil)
	if p := a.must(t, 400, "POST", "/v1/partners/var-a/certifications/cert-1/refuse", tokCM, map[string]any{}).json(t); p["field"] != "reason" {
		t.Fatalf("refusal without a reason: %v", p)
	}
	// A second submission, refused: it never counts.
	a.must(t, 201, "POST", "/v1/partners/var-a/certifications", tokVarA,
		map[string]any{"engineer": "bo", "segment": "client_management", "certified_on": "2026-04-02"})
	ref := a.must(t, 200, "POST", "/v1/partners/var-a/certifications/cert-2/refuse", tokCM, map[string]any{"reason": "no exam record"}).json(t)
	if ref["status"] != "refused" {
		t.Fatalf("refusal answered %v", ref)
	}
	a.must(t, 422, "POST", "/v1/partners/var-a/tier", tokCM, map[string]any{"tier": "gold", "reason": "asked"})

	conf := a.must(t, 200, "POST", "/v1/partners/var-a/certifications/cert-1/confirm", tokCM, nil).json(t)
	if conf["status"] != "confirmed" || conf["certification_id"] != "cert-1" || conf["id"] != "var-a" {
		t.Fatalf("confirmation answered %v", conf)
	}
	if p := a.must(t, 409, "POST", "/v1/partners/var-a/certifications/cert-1/confirm", tokCM, nil).json(t); p["rule"] != "certification.decided" {
		t.Fatalf("second confirmation: %v", p)
	}
	a.must(t, 200, "POST", "/v1/partners/var-a/tier", tokCM, map[string]any{"tier": "gold", "reason": "one confirmed certification"})
	view = a.must(t, 200, "GET", "/v1/partners/var-a", tokCM, nil).json(t)
	got := map[string]string{}
	for _, c := range view["certifications"].([]any) {
		m := c.(map[string]any)
		got[m["id"].(string)] = m["status"].(string)
	}
	if got["cert-1"] != "confirmed" || got["cert-2"] != "refused" || view["tier"] != "gold" {
		t.Fatalf("partner view: certifications %v, tier %v", got, view["tier"])
	}
}
