package daemon_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"dealcredit/api"
	"dealcredit/domain"
)

// GET /v1/leads through the real daemon (issue 15 item 5): the partner the
// lead is offered to lists it with its offer; another partner's listing is
// 404; a channel manager filters by partner and status.
func TestListLeadsThroughDaemon(t *testing.T) {
	e := newE2E(t)
	e.partner(api.DemoPartnerID, domain.TierPlatinum)
	e.partner("var-g", domain.TierGold)
	var created struct {
		Position int64  `json:"position"`
		Partner  string `json:"partner_id"`
	}
	b := e.call("POST", "/v1/leads", "channel_manager", map[string]any{"id": "lead-1", "geography": "emea", "source": "campaign",
		"source_name": "Spring webinar", "customer": map[string]any{"name": "Initech", "country": "DE", "domain": "initech.example"}}, 201)
	if err := json.Unmarshal(b, &created); err != nil || created.Partner != api.DemoPartnerID {
		t.Fatalf("lead: %v %s", err, b)
	}
	type page struct {
		Data struct {
			Leads []struct {
				ID     string `json:"id"`
				Status string `json:"status"`
				Offers []struct {
					PartnerID string `json:"partner_id"`
					Tier      string `json:"tier"`
					Outcome   string `json:"outcome"`
				} `json:"offers"`
			} `json:"leads"`
		} `json:"data"`
	}
	list := func(role, query string) page {
		var p page
		b := e.call("GET", fmt.Sprintf("/v1/leads?min_position=%d%s", created.Position, query), role, nil, 200)
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("list: %v %s", err, b)
		}
		return p
	}
	p := list("partner", "")
	if len(p.Data.Leads) != 1 || p.Data.Leads[0].ID != "lead-1" || p.Data.Leads[0].Status != "offered" ||
		len(p.Data.Leads[0].Offers) != 1 || p.Data.Leads[0].Offers[0].Tier != "platinum" {
		t.Fatalf("partner's list: %+v", p.Data.Leads)
	}
	if p := list("channel_manager", "&partner_id=var-g"); len(p.Data.Leads) != 0 {
		t.Errorf("var-g was offered nothing, listed %+v", p.Data.Leads)
	}
	if p := list("channel_manager", "&status=unassigned"); len(p.Data.Leads) != 0 {
		t.Errorf("no lead is unassigned, listed %+v", p.Data.Leads)
	}
	e.call("GET", "/v1/leads?partner_id=var-g", "partner", nil, 404)
}
