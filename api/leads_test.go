package api_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"dealcredit/api"
)

func leadBody(id, geo string) map[string]any {
	return map[string]any{
		"id": id, "geography": geo, "source": "campaign", "source_name": "Spring webinar",
		"customer": map[string]any{"name": "Initech", "country": "US", "domain": "initech.example"},
	}
}

// testClock is a clock the test moves forward.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// tokVarP acts for var-p, the Platinum partner of the lead tests.
const tokVarP = "tok-var-p-0123456789"

// mustLeadsAPI starts the API with a movable clock and the lead cast:
// us-west has var-p (platinum), var-a and var-b (gold), var-reg
// (registered) and the OEM hp; apac has the OEM a-oem (grandfathered, so
// it holds a gold seat) and z-var (gold).
func mustLeadsAPI(t *testing.T) (*testAPI, *testClock) {
	t.Helper()
	clk := &testClock{now: testNow}
	a := mustAPI(t, func(d *api.Deps) {
		d.Clock = clk.Now
		d.Tokens = append(append(api.Tokens{}, testTokens...), api.Token{Token: tokVarP, Role: api.RolePartner, PartnerID: "var-p"})
		d.Queries = &logQueries{store: d.Store}
		// The daemon reads them from the leads read model (not run here).
		d.RegisteredPartners = func(_ context.Context, geo string) ([]string, error) {
			if geo == "us-west" {
				return []string{"hp", "var-reg"}, nil // hp is an OEM: checked and skipped
			}
			return nil, nil
		}
	})
	a.seed(t)
	a.must(t, 201, "POST", "/v1/partners", tokCM, map[string]any{"id": "var-p", "name": "Plat", "kind": "var", "geography": "us-west"})
	for _, eng := range []string{"ann", "bob"} {
		a.must(t, 201, "POST", "/v1/partners/var-p/certifications", tokCM, map[string]any{"engineer": eng, "segment": "client_management", "certified_on": "2026-04-01"})
	}
	a.must(t, 201, "POST", "/v1/partners/var-p/commitments", tokCM, map[string]any{
		"segments": []string{"client_management", "server_management", "asset_management"}, "quarterly_target_minor": 30_000_000, "currency": "USD"})
	a.must(t, 200, "POST", "/v1/partners/var-p/tier", tokCM, map[string]any{"tier": "platinum", "reason": "requirements met"})
	a.must(t, 201, "POST", "/v1/partners:grandfather", tokAdmin, map[string]any{"partners": []map[string]any{
		{"id": "a-oem", "name": "An OEM", "kind": "oem", "geography": "apac"},
		{"id": "z-var", "name": "Z VAR", "kind": "var", "geography": "apac"},
	}})
	return a, clk
}

// offer checks a lead command's answer: status and the partner holding
// (or having accepted) the lead.
func offer(t *testing.T, r response, status, partner, tier string) {
	t.Helper()
	m := r.json(t)
	if m["status"] != status || m["partner_id"] != strOrNil(partner) || m["tier"] != strOrNil(tier) {
		t.Fatalf("lead %v: status %v partner %v tier %v, want %s %q %q: %s", m["id"], m["status"], m["partner_id"], m["tier"], status, partner, tier, r.Body)
	}
}

func strOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// TestLeadCascade: a campaign lead goes to the Platinum first; declined
// with a reason it cascades to the Golds by partner id; accepted, it is
// closed; partners see only leads offered to them and their own offers.
func TestLeadCascade(t *testing.T) {
	a, _ := mustLeadsAPI(t)
	r := a.must(t, 201, "POST", "/v1/leads", tokCM, leadBody("l-1", "us-west"))
	offer(t, r, "offered", "var-p", "platinum")
	if loc := r.Header.Get("Location"); loc != "/v1/leads/l-1" {
		t.Errorf("Location %q", loc)
	}
	if r.Header.Get(api.PositionHeader) == "" {
		t.Error("no position header on the command's answer")
	}

	// Not offered to var-a yet: its existence is not revealed.
	a.must(t, 404, "GET", "/v1/leads/l-1", tokVarA, nil)
	a.must(t, 404, "POST", "/v1/leads/l-1/accept", tokVarA, nil)
	p := a.must(t, 400, "POST", "/v1/leads/l-1/reject", tokVarP, map[string]any{}).json(t)
	if p["field"] != "reason" {
		t.Errorf("decline without reason names field %v", p["field"])
	}
	offer(t, a.must(t, 200, "POST", "/v1/leads/l-1/reject", tokVarP, map[string]any{"reason": "no capacity in Q2"}), "offered", "var-a", "gold")
	// var-p was offered it: it may still read it, but only its own offer.
	v := a.must(t, 200, "GET", "/v1/leads/l-1", tokVarP, nil).json(t)
	if offers := v["offers"].([]any); len(offers) != 1 || v["status"] != "closed" || v["partner_id"] != nil {
		t.Errorf("var-p's view: status %v partner %v offers %v", v["status"], v["partner_id"], offers)
	}
	// The channel manager declines for var-a, the partner offered now.
	offer(t, a.must(t, 200, "POST", "/v1/leads/l-1/reject", tokCM, map[string]any{"reason": "var-a is on holiday"}), "offered", "var-b", "gold")
	a.must(t, 403, "POST", "/v1/leads/l-1/accept", tokVarA, nil) // offered before, not now
	offer(t, a.must(t, 200, "POST", "/v1/leads/l-1/accept", tokVarB, nil), "accepted", "var-b", "")
	a.must(t, 409, "POST", "/v1/leads/l-1/accept", tokVarB, nil)

	v = a.must(t, 200, "GET", "/v1/leads/l-1", tokCM, nil).json(t)
	offers := v["offers"].([]any)
	var got []string
	for _, o := range offers {
		m := o.(map[string]any)
		got = append(got, m["partner_id"].(string)+":"+m["tier"].(string)+":"+m["outcome"].(string))
	}
	if want := "var-p:platinum:declined var-a:gold:declined var-b:gold:accepted"; strings.Join(got, " ") != want {
		t.Errorf("offers %q, want %q", strings.Join(got, " "), want)
	}
	if reason := offers[0].(map[string]any)["reason"]; reason != "no capacity in Q2" {
		t.Errorf("decline reason %v", reason)
	}
	if v["status"] != "accepted" || v["partner_id"] != "var-b" {
		t.Errorf("lead status %v partner %v", v["status"], v["partner_id"])
	}
}

// TestLeadRouting: who is offered a new lead first, and when nobody is.
func TestLeadRouting(t *testing.T) {
	a, _ := mustLeadsAPI(t)
	cases := []struct {
		name                  string
		geo, source           string
		participants          []string
		status, partner, tier string
	}{
		{"campaign: platinum first", "us-west", "campaign", nil, "offered", "var-p", "platinum"},
		{"event: participant before platinum", "us-west", "event", []string{"var-b"}, "offered", "var-b", "gold"},
		{"event: participant from another geography", "us-west", "event", []string{"z-var"}, "offered", "z-var", "gold"},
		{"event: a registered participant is a participant", "us-west", "event", []string{"var-reg"}, "offered", "var-reg", "registered"},
		{"an OEM holding a seat is never offered", "apac", "campaign", nil, "offered", "z-var", "gold"},
		{"nobody in the geography", "mars", "campaign", nil, "unassigned", "", ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := leadBody("route-"+string(rune('a'+i)), c.geo)
			b["source"] = c.source
			if c.participants != nil {
				b["participants"] = c.participants
			}
			offer(t, a.must(t, 201, "POST", "/v1/leads", tokCM, b), c.status, c.partner, c.tier)
		})
	}
	// Declined by everyone left, the lead is unassigned.
	a.must(t, 201, "POST", "/v1/leads", tokCM, leadBody("l-apac", "apac"))
	offer(t, a.must(t, 200, "POST", "/v1/leads/l-apac/reject", tokCM, map[string]any{"reason": "not our field"}), "unassigned", "", "")
	a.must(t, 409, "POST", "/v1/leads/l-apac/reject", tokCM, map[string]any{"reason": "again"})
	// The same id twice is a conflict.
	a.must(t, 409, "POST", "/v1/leads", tokCM, leadBody("l-apac", "apac"))
}

// TestLeadDeadline: an offer lapses after lead_accept_hours (48 by
// default); it can then no longer be accepted and the channel manager
// cascades it.
func TestLeadDeadline(t *testing.T) {
	a, clk := mustLeadsAPI(t)
	a.must(t, 201, "POST", "/v1/leads", tokCM, leadBody("l-late", "us-west"))
	p := a.must(t, 422, "POST", "/v1/leads/l-late/cascade", tokCM, nil).json(t)
	if p["rule"] != "lead.deadline" {
		t.Errorf("early cascade refused by rule %v", p["rule"])
	}
	clk.Advance(48 * time.Hour)
	p = a.must(t, 422, "POST", "/v1/leads/l-late/accept", tokVarP, nil).json(t)
	if p["rule"] != "lead.deadline" {
		t.Errorf("lapsed accept refused by rule %v", p["rule"])
	}
	offer(t, a.must(t, 200, "POST", "/v1/leads/l-late/cascade", tokCM, nil), "offered", "var-a", "gold")
	v := a.must(t, 200, "GET", "/v1/leads/l-late", tokCM, nil).json(t)
	first := v["offers"].([]any)[0].(map[string]any)
	if first["outcome"] != "expired" || first["partner_id"] != "var-p" {
		t.Errorf("first offer %v", first)
	}
	offer(t, a.must(t, 200, "POST", "/v1/leads/l-late/accept", tokVarA, nil), "accepted", "var-a", "")
}

// TestLeadRespondBy: a hot lead's first offer lapses at its respond_by,
// sooner than the policy's window; the next offer gets the whole window.
func TestLeadRespondBy(t *testing.T) {
	a, clk := mustLeadsAPI(t)
	b := leadBody("l-hot", "us-west")
	b["respond_by"] = testNow.Add(90 * time.Second).Format(time.RFC3339)
	r := a.must(t, 201, "POST", "/v1/leads", tokCM, b)
	offer(t, r, "offered", "var-p", "platinum")
	if got := r.json(t)["deadline"]; got != b["respond_by"] {
		t.Fatalf("deadline %v, want the respond_by %v", got, b["respond_by"])
	}
	a.must(t, 422, "POST", "/v1/leads/l-hot/cascade", tokCM, nil)
	clk.Advance(90 * time.Second)
	r = a.must(t, 200, "POST", "/v1/leads/l-hot/cascade", tokCM, nil)
	offer(t, r, "offered", "var-a", "gold")
	if got, want := r.json(t)["deadline"], clk.Now().Add(48*time.Hour).UTC().Format(time.RFC3339); got != want {
		t.Errorf("next deadline %v, want %s (48 h)", got, want)
	}
}

// TestLeadConcurrentAccept: of many concurrent accepts of one offer,
// exactly one wins and the others are told the lead is closed.
func TestLeadConcurrentAccept(t *testing.T) {
	a, _ := mustLeadsAPI(t)
	a.must(t, 201, "POST", "/v1/leads", tokCM, leadBody("l-race", "us-west"))
	const n = 12
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := tokCM
			if i%2 == 0 {
				tok = tokVarP
			}
			statuses[i] = a.do(t, "POST", "/v1/leads/l-race/accept", tok, nil).Status
		}()
	}
	wg.Wait()
	won := 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			won++
		case http.StatusConflict:
		default:
			t.Errorf("concurrent accept answered %d", s)
		}
	}
	if won != 1 {
		t.Errorf("%d accepts won, want 1 (%v)", won, statuses)
	}
}

// TestLeadBadInput: each client mistake is a 400 naming the field.
func TestLeadBadInput(t *testing.T) {
	a, _ := mustLeadsAPI(t)
	many := make([]string, api.MaxLeadParticipants+1)
	for i := range many {
		many[i] = "p-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	cases := []struct {
		name  string
		edit  func(b map[string]any)
		field string
	}{
		{"unknown source", func(b map[string]any) { b["source"] = "radio" }, "source"},
		{"participants on a campaign lead", func(b map[string]any) { b["participants"] = []string{"var-a"} }, "participants"},
		{"too many participants", func(b map[string]any) { b["source"], b["participants"] = "event", many }, "participants"},
		{"participant twice", func(b map[string]any) { b["source"], b["participants"] = "event", []string{"var-a", "var-a"} }, "participants[1]"},
		{"no customer name", func(b map[string]any) { b["customer"] = map[string]any{"country": "US"} }, "customer.name"},
		{"no source name", func(b map[string]any) { delete(b, "source_name") }, "source_name"},
		{"bad id", func(b map[string]any) { b["id"] = "Not An Id" }, "id"},
		{"bad geography", func(b map[string]any) { b["geography"] = "US West" }, "geography"},
		{"unknown field", func(b map[string]any) { b["segment"] = "client_management" }, "segment"},
		{"respond_by not a timestamp", func(b map[string]any) { b["respond_by"] = "tomorrow" }, "respond_by"},
		{"respond_by a date", func(b map[string]any) { b["respond_by"] = "2026-05-16" }, "respond_by"},
		{"respond_by in the past", func(b map[string]any) { b["respond_by"] = testNow.Add(-time.Second).Format(time.RFC3339) }, "respond_by"},
		{"respond_by beyond the window", func(b map[string]any) { b["respond_by"] = testNow.Add(49 * time.Hour).Format(time.RFC3339) }, "respond_by"},
		{"respond_by absurd", func(b map[string]any) { b["respond_by"] = "9999-12-31T23:59:59Z" }, "respond_by"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := leadBody("bad-lead", "us-west")
			c.edit(b)
			p := a.must(t, 400, "POST", "/v1/leads", tokCM, b).json(t)
			if p["field"] != c.field {
				t.Errorf("field %v, want %s: %v", p["field"], c.field, p["detail"])
			}
		})
	}
	a.must(t, 404, "GET", "/v1/leads/"+strings.Repeat("x", 65), tokCM, nil)
	a.must(t, 404, "POST", "/v1/leads/nope/accept", tokCM, nil)
}

// TestSeatsQuery: the seats route serves the read side and scopes errors.
func TestSeatsQuery(t *testing.T) {
	a, _ := mustLeadsAPI(t)
	m := a.must(t, 200, "GET", "/v1/geographies/us-west/seats", tokCM, nil).json(t)
	if m["data"].(map[string]any)["geography"] != "us-west" {
		t.Errorf("seats answer %v", m)
	}
	p := a.must(t, 404, "GET", "/v1/geographies/nowhere/seats", tokAdmin, nil).json(t)
	if p["field"] != "geo" {
		t.Errorf("field %v", p["field"])
	}
	a.must(t, 403, "GET", "/v1/geographies/us-west/seats", tokVarA, nil)
}
