package api_test

import (
	"testing"
)

// TestRepNamedAccounts: PUT /v1/reps/{id} takes named accounts (docs/rules.md rule 17):
// stored as customer keys on fieldrep.assigned; a bad account is a 400 naming it.
func TestRepNamedAccounts(t *testing.T) {
	a := mustAPI(t)
	body := map[string]any{"name": "Nora", "geography": "us-west", "size_band": "enterprise",
		"accounts": []map[string]any{{"name": "Initech, Inc.", "country": "us"}, {"name": "Globex GmbH", "country": "DE"}}}
	a.must(t, 200, "PUT", "/v1/reps/rep-n", tokCM, body)
	bad := map[string]any{"name": "Nora", "geography": "us-west", "size_band": "enterprise",
		"accounts": []map[string]any{{"name": "Initech", "country": "ZZ"}}}
	if p := a.must(t, 400, "PUT", "/v1/reps/rep-n", tokCM, bad).json(t); p["field"] != "accounts[0].country" {
		t.Fatalf("bad account: %v", p)
	}
	a.must(t, 409, "PUT", "/v1/reps/rep-n", tokCM, body)
	evs := a.must(t, 200, "GET", "/v1/events", tokAuditor, nil).json(t)["events"].([]any)
	var accounts []any
	for _, e := range evs {
		ev := e.(map[string]any)
		if ev["type"] == "fieldrep.assigned" {
			accounts, _ = ev["data"].(map[string]any)["accounts"].([]any)
		}
	}
	if len(accounts) != 2 || accounts[0] != "globex|DE" || accounts[1] != "initech|US" {
		t.Fatalf("stored accounts %v, want the two customer keys, sorted", accounts)
	}
}
