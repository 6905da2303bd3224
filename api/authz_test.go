package api_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"dealcredit/api"
)

// caller is one column of the authorisation matrix.
type caller struct {
	name  string
	token string
	role  api.Role // "" for no/unknown token
	other bool     // a partner token that does not own the resource
}

var callers = []caller{
	{"no_token", "", "", false},
	{"unknown_token", "tok-unknown-0123456789", "", false},
	{"admin", tokAdmin, api.RoleAdmin, false},
	{"channel_manager", tokCM, api.RoleChannelManager, false},
	{"finance", tokFinance, api.RoleFinance, false},
	{"auditor", tokAuditor, api.RoleAuditor, false},
	{"partner_own", tokVarA, api.RolePartner, false},
	{"partner_other", tokVarB, api.RolePartner, true},
}

// cell builds one request: the path with its parameters filled for a
// resource owned by var-a (fresh where the route changes state) and a body.
type cell func(t *testing.T, a *testAPI, c caller) (path string, body any)

var seq atomic.Int64

func uniq(prefix string) string { return fmt.Sprintf("%s-%d", prefix, seq.Add(1)) }

// matrixCases gives, per route, the request and the status an authorised
// caller gets. Query routes answer 503 here: this test wires no read side.
var matrixCases = map[string]struct {
	build cell
	ok    int
}{
	"POST /v1/partners": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/partners", map[string]any{"id": uniq("p"), "name": "N", "kind": "si", "geography": "emea"}
	}, 201},
	"POST /v1/partners:grandfather": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/partners:grandfather", map[string]any{"partners": []map[string]any{{"id": uniq("g"), "name": "G", "kind": "var", "geography": "emea"}}}
	}, 201},
	"POST /v1/partners/{id}/certifications": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/partners/var-a/certifications", map[string]any{"engineer": uniq("eng"), "segment": "server_management", "certified_on": "2026-03-01"}
	}, 201},
	"POST /v1/partners/{id}/commitments": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/partners/var-a/commitments", map[string]any{"segments": []string{"client_management"}, "quarterly_target_minor": 6000000, "currency": "USD"}
	}, 201},
	// var-a lacks platinum's requirements: an authorised caller gets the 422 naming the rule.
	"POST /v1/partners/{id}/tier": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/partners/var-a/tier", map[string]any{"tier": "platinum", "reason": "growth"}
	}, 422},
	"GET /v1/partners/{id}": {func(t *testing.T, a *testAPI, c caller) (string, any) { return "/v1/partners/var-a", nil }, 200},
	"PUT /v1/geographies/{geo}/seats": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/geographies/emea/seats", map[string]any{"platinum": 5, "gold": 20}
	}, 200},
	"POST /v1/deals": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/deals", dealBody("var-a", uniq("Customer"))
	}, 201},
	"GET /v1/deals": {func(t *testing.T, a *testAPI, c caller) (string, any) { return "/v1/deals?partner_id=var-a", nil }, 503},
	"GET /v1/deals/{id}": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/deals/" + a.registerDeal(t, "var-a", uniq("Cust")), nil
	}, 200},
	"POST /v1/deals/{id}/approve": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/deals/" + a.registerDeal(t, "var-a", uniq("Cust")) + "/approve", nil
	}, 200},
	"POST /v1/deals/{id}/reject": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/deals/" + a.registerDeal(t, "var-a", uniq("Cust")) + "/reject", map[string]any{"reason": "duplicate"}
	}, 200},
	"POST /v1/deals/{id}/withdraw": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/deals/" + a.registerDeal(t, "var-a", uniq("Cust")) + "/withdraw", nil
	}, 200},
	"POST /v1/deals/{id}/extend": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/deals/" + a.approvedDeal(t, "var-a") + "/extend", nil
	}, 200},
	"POST /v1/deals/{id}/override": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		cust := uniq("Contested")
		first := a.registerDeal(t, "var-b", cust)
		a.must(t, 200, "POST", "/v1/deals/"+first+"/approve", tokCM, nil)
		return "/v1/deals/" + a.registerDeal(t, "var-a", cust) + "/override", map[string]any{"reason": "var-a did the proof of concept"}
	}, 200},
	"POST /v1/deals/{id}/engagements": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/deals/" + a.registerDeal(t, "var-a", uniq("Cust")) + "/engagements", map[string]any{"step": "presales_support", "occurred_on": "2026-05-01"}
	}, 201},
	"POST /v1/deals/{id}/service-handoff": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/deals/" + a.approvedDeal(t, "var-a") + "/service-handoff", map[string]any{"oem_id": "hp", "to_partner_id": "var-a"}
	}, 200},
	"GET /v1/geographies/{geo}/seats": {func(t *testing.T, a *testAPI, c caller) (string, any) { return "/v1/geographies/us-west/seats", nil }, 503},
	"POST /v1/leads": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/leads", leadBody(uniq("lead"), "us-west")
	}, 201},
	"GET /v1/leads/{id}": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/leads/" + a.offeredLead(t), nil
	}, 200},
	"POST /v1/leads/{id}/accept": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/leads/" + a.offeredLead(t) + "/accept", nil
	}, 200},
	"POST /v1/leads/{id}/reject": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/leads/" + a.offeredLead(t) + "/reject", map[string]any{"reason": "no capacity this month"}
	}, 200},
	// The offer's deadline has not passed (the clock is fixed): an authorised caller gets the 422.
	"POST /v1/leads/{id}/cascade": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/leads/" + a.offeredLead(t) + "/cascade", nil
	}, 422},
	"PUT /v1/policy": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/policy", map[string]any{"effective_from": "2026-06-01", "rebate_bps": map[string]int{"gold": 500, "platinum": 900}, "registration_days": 90, "claim_grace_days": 30}
	}, 200},
	"GET /v1/policy": {func(t *testing.T, a *testAPI, c caller) (string, any) { return "/v1/policy", nil }, 200},
	"POST /v1/quarters/{quarter}/close": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/quarters/2026Q1/close", nil
	}, 200},
	"GET /v1/attribution": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/attribution?quarter=2026Q2&partner_id=var-a", nil
	}, 503},
	"GET /v1/attribution/explain": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/attribution/explain?oem_id=hp&invoice_number=X&line=1", nil
	}, 503},
	"GET /v1/partners/{id}/statements/{quarter}": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/partners/var-a/statements/2026Q2", nil
	}, 503},
	"GET /v1/revenue-mix": {func(t *testing.T, a *testAPI, c caller) (string, any) { return "/v1/revenue-mix?quarter=2026Q2", nil }, 503},
	"GET /v1/events":      {func(t *testing.T, a *testAPI, c caller) (string, any) { return "/v1/events?after=0&limit=10", nil }, 200},

	"POST /v1/fx-rates": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/fx-rates", map[string]string{"from": "EUR", "to": "USD", "rate": "1.0842", "period": "day", "effective_on": "2026-03-31", "source": "ECB"}
	}, 200},
	"GET /v1/fx-rates": {func(t *testing.T, a *testAPI, c caller) (string, any) { return "/v1/fx-rates", nil }, 200},
	"GET /v1/revenue-mix/reporting": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/revenue-mix/reporting?quarter=2026Q1", nil
	}, 503},
	"GET /v1/partners/{id}/statements/{quarter}/reporting": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/partners/var-a/statements/2026Q1/reporting", nil
	}, 503},

	// Deal outcomes (issue 15 item 2).
	"POST /v1/deals/{id}/won": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/deals/" + a.approvedDeal(t, "var-a") + "/won", map[string]any{"reason": "PO signed"}
	}, 200},
	"POST /v1/deals/{id}/lost": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/deals/" + a.approvedDeal(t, "var-a") + "/lost", map[string]any{"reason": "budget cut"}
	}, 200},
	"POST /v1/deals/{id}/return": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/deals/" + a.registerDeal(t, "var-a", uniq("Cust")) + "/return", map[string]any{"reason": "which site?"}
	}, 200},
	"POST /v1/deals/{id}/resubmit": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		id := a.registerDeal(t, "var-a", uniq("Cust"))
		a.must(t, 200, "POST", "/v1/deals/"+id+"/return", tokCM, map[string]any{"reason": "which site?"})
		return "/v1/deals/" + id + "/resubmit", map[string]any{"info": "the Berlin site"}
	}, 200},

	// The list of leads (issue 15 item 5).
	"GET /v1/leads": {func(t *testing.T, a *testAPI, c caller) (string, any) { return "/v1/leads?partner_id=var-a", nil }, 503},

	// Field reps (issue 15 item 4).
	"PUT /v1/reps/{id}": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/reps/" + uniq("rep"), map[string]any{"name": "Rita", "geography": "us-west", "size_band": "enterprise"}
	}, 200},
	"GET /v1/reps/{id}/statements/{quarter}": {func(t *testing.T, a *testAPI, c caller) (string, any) { return "/v1/reps/rep-1/statements/2026Q2", nil }, 503},
	// The exception queue reads its lines from the read model: 503 here (cmd/dealcreditd/daemon tests them end to end).
	"GET /v1/exceptions": {func(t *testing.T, a *testAPI, c caller) (string, any) { return "/v1/exceptions?status=open", nil }, 503},
	"POST /v1/exceptions/{id}/assign": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/exceptions/x00000000000000000000000000000001/assign", map[string]any{"deal_id": "d-1", "reason": "by hand"}
	}, 503},
	"POST /v1/exceptions/{id}/dismiss": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/exceptions/x00000000000000000000000000000001/dismiss", map[string]any{"reason": "direct"}
	}, 503},
	"POST /v1/exceptions/{id}/reopen": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/exceptions/x00000000000000000000000000000001/reopen", map[string]any{"reason": "again"}
	}, 503},
	// The rebate lifecycle: a fresh ended quarter per call; a payout needs the read model (503 here).
	"POST /v1/partners/{id}/statements/{quarter}/approve": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return fmt.Sprintf("/v1/partners/var-a/statements/%dQ1/approve", 2000+seq.Add(1)%20), nil
	}, 200},
	"POST /v1/partners/{id}/statements/{quarter}/payouts": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/partners/var-a/statements/2025Q4/payouts", map[string]any{"amount_minor": 100, "currency": "USD", "reference": "AP-1", "paid_on": "2026-01-15"}
	}, 503},
	"GET /v1/payouts": {func(t *testing.T, a *testAPI, c caller) (string, any) { return "/v1/payouts?quarter=2026Q1", nil }, 503},
	// The import takes multipart files; the matrix sends JSON, so an authorised caller gets the 415
	// (cmd/dealcredit tests the import end to end).
	"POST /v1/admin/import": {func(t *testing.T, a *testAPI, c caller) (string, any) {
		return "/v1/admin/import?dry_run=true", map[string]any{}
	}, 415},
}

// offeredLead creates a campaign lead in us-west, where var-a and var-b
// are the only (gold) partners: it is offered to var-a first.
func (a *testAPI) offeredLead(t *testing.T) string {
	t.Helper()
	id := uniq("lead")
	r := a.must(t, 201, "POST", "/v1/leads", tokCM, leadBody(id, "us-west")).json(t)
	if r["partner_id"] != "var-a" {
		t.Fatalf("lead %s offered to %v, want var-a", id, r["partner_id"])
	}
	return id
}

func (a *testAPI) approvedDeal(t *testing.T, partner string) string {
	t.Helper()
	id := a.registerDeal(t, partner, uniq("Approved"))
	a.must(t, 200, "POST", "/v1/deals/"+id+"/approve", tokCM, nil)
	return id
}

// contract is CONTRACT.md's "who" column, written out independently of the
// route table: the roles allowed and whether a partner acts on its own
// resources only ("own") or must not name another partner ("body").
var contract = map[string]struct {
	roles string
	scope string // "", "own" (404 for another's), "body" (403 for another's)
}{
	"POST /v1/partners":                          {"admin channel_manager", ""},
	"POST /v1/partners:grandfather":              {"admin", ""},
	"POST /v1/partners/{id}/certifications":      {"channel_manager partner", "own"},
	"POST /v1/partners/{id}/commitments":         {"channel_manager partner", "own"},
	"POST /v1/partners/{id}/tier":                {"admin channel_manager", ""},
	"GET /v1/partners/{id}":                      {"admin channel_manager finance auditor partner", "own"},
	"PUT /v1/geographies/{geo}/seats":            {"admin", ""},
	"POST /v1/deals":                             {"channel_manager partner", "body"},
	"GET /v1/deals":                              {"admin channel_manager finance auditor partner", "own"},
	"GET /v1/deals/{id}":                         {"admin channel_manager finance auditor partner", "own"},
	"POST /v1/deals/{id}/approve":                {"channel_manager", ""},
	"POST /v1/deals/{id}/reject":                 {"channel_manager", ""},
	"POST /v1/deals/{id}/withdraw":               {"channel_manager partner", "own"},
	"POST /v1/deals/{id}/extend":                 {"channel_manager", ""},
	"POST /v1/deals/{id}/override":               {"channel_manager", ""},
	"POST /v1/deals/{id}/engagements":            {"channel_manager partner", "own"},
	"POST /v1/deals/{id}/service-handoff":        {"channel_manager", ""},
	"GET /v1/geographies/{geo}/seats":            {"admin channel_manager", ""},
	"POST /v1/leads":                             {"channel_manager", ""},
	"GET /v1/leads/{id}":                         {"channel_manager partner", "own"},
	"POST /v1/leads/{id}/accept":                 {"channel_manager partner", "own"},
	"POST /v1/leads/{id}/reject":                 {"channel_manager partner", "own"},
	"POST /v1/leads/{id}/cascade":                {"channel_manager", ""},
	"PUT /v1/policy":                             {"admin", ""},
	"GET /v1/policy":                             {"admin channel_manager finance auditor partner", ""},
	"POST /v1/quarters/{quarter}/close":          {"finance", ""},
	"GET /v1/attribution":                        {"finance auditor partner", "own"},
	"GET /v1/attribution/explain":                {"finance auditor", ""},
	"GET /v1/partners/{id}/statements/{quarter}": {"finance auditor partner", "own"},
	"GET /v1/revenue-mix":                        {"finance auditor", ""},
	"GET /v1/events":                             {"auditor", ""},

	"POST /v1/fx-rates":                                    {"finance admin", ""},
	"GET /v1/fx-rates":                                     {"finance admin auditor", ""},
	"GET /v1/revenue-mix/reporting":                        {"finance auditor", ""},
	"GET /v1/partners/{id}/statements/{quarter}/reporting": {"finance auditor partner", "own"},

	// Deal outcomes (issue 15 item 2).
	"POST /v1/deals/{id}/won":      {"channel_manager partner", "own"},
	"POST /v1/deals/{id}/lost":     {"channel_manager partner", "own"},
	"POST /v1/deals/{id}/return":   {"channel_manager", ""},
	"POST /v1/deals/{id}/resubmit": {"channel_manager partner", "own"},

	// The list of leads (issue 15 item 5).
	"GET /v1/leads": {"channel_manager partner", "own"},

	// Field reps (issue 15 item 4).
	"PUT /v1/reps/{id}":                      {"admin channel_manager", ""},
	"GET /v1/reps/{id}/statements/{quarter}": {"channel_manager finance auditor", ""},
	"GET /v1/exceptions":                     {"channel_manager finance auditor partner", ""},
	"POST /v1/exceptions/{id}/assign":        {"channel_manager finance", ""},
	"POST /v1/exceptions/{id}/dismiss":       {"channel_manager finance", ""},
	"POST /v1/exceptions/{id}/reopen":        {"channel_manager finance", ""},

	"POST /v1/partners/{id}/statements/{quarter}/approve": {"finance", ""},
	"POST /v1/partners/{id}/statements/{quarter}/payouts": {"finance", ""},
	"GET /v1/payouts":       {"finance auditor", ""},
	"POST /v1/admin/import": {"admin", ""},
}

// expected is the status of one cell: 401 without a known token, 403 for a
// role the route does not allow, 404 for another partner's resource (403
// when a partner names another partner in a deal registration), else the
// route's ok status.
func expected(key string, c caller, ok int) int {
	spec := contract[key]
	switch {
	case c.role == "":
		return 401
	case !strings.Contains(" "+spec.roles+" ", " "+string(c.role)+" "):
		return 403
	case c.other && spec.scope == "body":
		return 403
	case c.other && spec.scope == "own":
		return 404
	}
	return ok
}

// TestAuthorizationMatrix calls every route as every kind of caller, on a
// resource owned by var-a, and checks each cell's status.
func TestAuthorizationMatrix(t *testing.T) {
	a := mustAPI(t)
	a.seed(t)
	routes := api.Routes()
	routed := map[string]bool{}
	for _, rt := range routes {
		routed[rt.Method+" "+rt.Path] = true
	}
	for key := range contract {
		if !routed[key] {
			t.Errorf("contract endpoint %s is not routed", key)
		}
	}
	for _, rt := range routes {
		if rt.Public {
			continue
		}
		key := rt.Method + " " + rt.Path
		mc, ok := matrixCases[key]
		if _, inContract := contract[key]; !ok || !inContract {
			t.Errorf("route %s has no matrix case or contract row", key)
			continue
		}
		for _, c := range callers {
			t.Run(strings.ReplaceAll(key, "/", "_")+"/"+c.name, func(t *testing.T) {
				path, body := mc.build(t, a, c)
				want := expected(key, c, mc.ok)
				r := a.do(t, rt.Method, path, c.token, body)
				if r.Status != want {
					t.Fatalf("%s %s as %s: status %d, want %d: %s", rt.Method, path, c.name, r.Status, want, r.Body)
				}
				if r.Status >= 400 && r.Header.Get("Content-Type") != "application/problem+json" {
					t.Errorf("error with content type %q", r.Header.Get("Content-Type"))
				}
			})
		}
	}
}
