package api_test

import (
	"encoding/json"
	"testing"

	"dealcredit/api"
)

// Deal outcomes (issue 15 item 2): won, lost, returned for information and
// resubmitted, each with a reason, through the API; each shows on the deal.
func TestDealOutcomes(t *testing.T) {
	a := mustAPI(t)
	a.seed(t)
	status := func(id, token string) (string, string) {
		m := a.must(t, 200, "GET", "/v1/deals/"+id, token, nil).json(t)
		reason, _ := m["reason"].(string)
		return m["status"].(string), reason
	}
	won := a.registerDeal(t, "var-a", "Acme Corp")
	a.must(t, 200, "POST", "/v1/deals/"+won+"/approve", tokCM, nil)
	// A reason is required; another partner's deal is not found.
	a.must(t, 400, "POST", "/v1/deals/"+won+"/won", tokVarA, map[string]any{})
	a.must(t, 404, "POST", "/v1/deals/"+won+"/won", tokVarB, map[string]any{"reason": "PO signed"})
	a.must(t, 403, "POST", "/v1/deals/"+won+"/return", tokVarA, map[string]any{"reason": "which site?"})
	r := a.must(t, 200, "POST", "/v1/deals/"+won+"/won", tokVarA, map[string]any{"reason": "PO signed"}).json(t)
	if r["status"] != "won" {
		t.Fatalf("won: %v", r)
	}
	if s, why := status(won, tokVarA); s != "won" || why != "PO signed" {
		t.Errorf("won deal: %s %q", s, why)
	}

	lost := a.registerDeal(t, "var-a", "Globex Inc")
	a.must(t, 200, "POST", "/v1/deals/"+lost+"/approve", tokCM, nil)
	r = a.must(t, 200, "POST", "/v1/deals/"+lost+"/lost", tokCM, map[string]any{"reason": "went with a competitor"}).json(t)
	if evs := r["events"].([]any); len(evs) != 2 || evs[0] != "deal.lost" || evs[1] != "customerkey.released" {
		t.Errorf("lost events %v", evs)
	}
	if s, why := status(lost, tokCM); s != "lost" || why != "went with a competitor" {
		t.Errorf("lost deal: %s %q", s, why)
	}
	// Protection ended: another partner's registration for the customer is approved.
	other := a.registerDeal(t, "var-b", "Globex Inc")
	a.must(t, 200, "POST", "/v1/deals/"+other+"/approve", tokCM, nil)

	ret := a.registerDeal(t, "var-a", "Initech LLC")
	a.must(t, 409, "POST", "/v1/deals/"+ret+"/resubmit", tokVarA, map[string]any{"info": "nothing was asked"})
	a.must(t, 200, "POST", "/v1/deals/"+ret+"/return", tokCM, map[string]any{"reason": "which site?"})
	if s, why := status(ret, tokVarA); s != "returned" || why != "which site?" {
		t.Errorf("returned deal: %s %q", s, why)
	}
	a.must(t, 400, "POST", "/v1/deals/"+ret+"/resubmit", tokVarA, map[string]any{"info": ""})
	a.must(t, 400, "POST", "/v1/deals/"+ret+"/resubmit", tokVarA, map[string]any{"reason": "wrong field"})
	r = a.must(t, 200, "POST", "/v1/deals/"+ret+"/resubmit", tokVarA, map[string]any{"info": "the Berlin site"}).json(t)
	if r["status"] != "pending" {
		t.Fatalf("resubmit: %v", r)
	}
	a.must(t, 200, "POST", "/v1/deals/"+ret+"/approve", tokCM, nil)
	if s, _ := status(ret, tokVarA); s != "approved" {
		t.Errorf("resubmitted deal after approval: %s", s)
	}
}

// GET /v1/leads: the filter reaches the read side checked; a partner is
// held to its own offers (issue 15 item 5).
func TestListLeadsFilter(t *testing.T) {
	a := mustAPI(t, func(d *api.Deps) { d.Queries = &logQueries{store: d.Store} })
	cases := []struct {
		query, token string
		status       int
		field        string
		want         string // the filter the read side got
	}{
		{"", tokVarA, 200, "", "{PartnerID:var-a Own:true Status: Geography: Source: After: Limit:100}"},
		{"?status=offered&geography=us-west&source=event&after=lead-9&limit=5", tokCM, 200, "",
			"{PartnerID: Own:false Status:offered Geography:us-west Source:event After:lead-9 Limit:5}"},
		{"?partner_id=var-b", tokCM, 200, "", "{PartnerID:var-b Own:false Status: Geography: Source: After: Limit:100}"},
		{"?partner_id=var-b", tokVarA, 404, "partner_id", ""},
		{"?status=lapsed", tokCM, 400, "status", ""},
		{"?source=radio", tokCM, 400, "source", ""},
		{"?geography=US%20West", tokCM, 400, "geography", ""},
		{"?limit=0", tokCM, 400, "limit", ""},
		{"?limit=501", tokCM, 400, "limit", ""},
		{"?after=%00", tokCM, 400, "after", ""},
	}
	for _, c := range cases {
		r := a.must(t, c.status, "GET", "/v1/leads"+c.query, c.token, nil)
		if c.status != 200 {
			if m := r.json(t); m["field"] != c.field {
				t.Errorf("%s: field %v, want %s: %s", c.query, m["field"], c.field, r.Body)
			}
			continue
		}
		var page struct {
			Data struct {
				Leads []struct {
					ID string `json:"id"`
				} `json:"leads"`
			} `json:"data"`
		}
		if err := json.Unmarshal(r.Body, &page); err != nil || len(page.Data.Leads) != 1 || page.Data.Leads[0].ID != c.want {
			t.Errorf("%s as %s: %s (%v), want the filter %s", c.query, c.token, r.Body, err, c.want)
		}
	}
}
