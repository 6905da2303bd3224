package domain_test

import (
	"reflect"
	"testing"

	"dealcredit/domain"
)

// TestLeadCandidates: who may receive a lead, from the geography's seats and
// the partners' states (the rule the API used to apply in its handler).
func TestLeadCandidates(t *testing.T) {
	partner := func(id string, kind domain.PartnerKind, geo string, tier domain.Tier) domain.PartnerState {
		return domain.PartnerState{ID: id, Kind: kind, Geography: geo, Tier: tier}
	}
	geo := domain.GeoState{Geography: "emea", Holders: map[domain.Tier][]string{
		domain.TierGold:     {"gold-a", "oem-x", "demoted", "both"},
		domain.TierPlatinum: {"plat-z", "both"},
	}}
	partners := map[string]domain.PartnerState{
		"gold-a":  partner("gold-a", domain.KindVAR, "emea", domain.TierGold),
		"plat-z":  partner("plat-z", domain.KindSI, "emea", domain.TierPlatinum),
		"oem-x":   partner("oem-x", domain.KindOEM, "emea", domain.TierGold),
		"demoted": partner("demoted", domain.KindVAR, "emea", domain.TierRegistered),
		"both":    partner("both", domain.KindVAR, "emea", domain.TierPlatinum),
		"apac-1":  partner("apac-1", domain.KindVAR, "apac", domain.TierGold),
		"oem-y":   partner("oem-y", domain.KindOEM, "apac", domain.TierGold),
	}
	cand := func(id string, tier domain.Tier, geo string) domain.Candidate {
		return domain.Candidate{PartnerID: id, Tier: tier, Geography: geo}
	}
	tests := []struct {
		name         string
		lead         domain.LeadCreated
		wantPartners []string
		want         []domain.Candidate
		wantFirst    string
	}{
		{
			name:         "campaign: seat holders, never an OEM, not a holder whose tier left its seat",
			lead:         domain.LeadCreated{Geography: "emea", Source: domain.LeadFromCampaign, Participants: []string{"apac-1"}},
			wantPartners: []string{"plat-z", "both", "gold-a", "oem-x", "demoted"},
			want:         []domain.Candidate{cand("plat-z", domain.TierPlatinum, "emea"), cand("both", domain.TierPlatinum, "emea"), cand("gold-a", domain.TierGold, "emea")},
			wantFirst:    "both",
		},
		{
			name:         "event: participants from any geography, enrolled and not OEMs",
			lead:         domain.LeadCreated{Geography: "emea", Source: domain.LeadFromEvent, Participants: []string{"apac-1", "oem-y", "nobody", "gold-a"}},
			wantPartners: []string{"plat-z", "both", "gold-a", "oem-x", "demoted", "apac-1", "oem-y", "nobody"},
			want: []domain.Candidate{cand("plat-z", domain.TierPlatinum, "emea"), cand("both", domain.TierPlatinum, "emea"), cand("gold-a", domain.TierGold, "emea"),
				cand("apac-1", domain.TierGold, "apac")},
			wantFirst: "apac-1",
		},
		{
			name:         "a geography without seats: nobody",
			lead:         domain.LeadCreated{Geography: "latam", Source: domain.LeadFromCampaign},
			wantPartners: nil,
			want:         nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := geo
			if tc.lead.Geography != "emea" {
				g = domain.GeoState{Geography: tc.lead.Geography}
			}
			if got := domain.LeadPartners(tc.lead, g); !reflect.DeepEqual(got, tc.wantPartners) {
				t.Errorf("LeadPartners = %v, want %v", got, tc.wantPartners)
			}
			got := domain.LeadCandidates(tc.lead, g, partners)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("LeadCandidates = %+v, want %+v", got, tc.want)
			}
			first := ""
			if order := domain.LeadOrder(tc.lead, got); len(order) > 0 {
				first = order[0].PartnerID
			}
			if first != tc.wantFirst {
				t.Errorf("first offered %q, want %q", first, tc.wantFirst)
			}
		})
	}
}
