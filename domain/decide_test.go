package domain_test

import (
	"errors"
	"strings"
	"testing"

	"dealcredit/domain"
)

// TestDealCommands is given-when-then: given a world, when a command, then the event
// types or the error code and rule.
func TestDealCommands(t *testing.T) {
	type setup func(w *world)
	approved := func(w *world) { w.must(w.dealCmd("d-1", domain.Approve{})) }
	tests := []struct {
		name  string
		given []setup
		deal  string
		when  any
		then  []string
		code  domain.Code
		rule  string
	}{
		{name: "register", deal: "d-9", when: domain.Register{DealID: "d-9", PartnerID: "var-1", Customer: acme, Geography: "emea",
			Segments: []domain.Segment{domain.SegmentClientManagement}, ExpectedValue: domain.Money{Amount: 1, Currency: "USD"}}, then: []string{"deal.registered"}},
		{name: "register by registered tier", deal: "d-9", when: domain.Register{DealID: "d-9", PartnerID: "reg-1", Customer: acme, Geography: "emea",
			Segments: []domain.Segment{domain.SegmentClientManagement}, ExpectedValue: domain.Money{Amount: 1, Currency: "USD"}}, code: domain.Unprocessable, rule: "registration.tier"},
		{name: "register unknown partner", deal: "d-9", when: domain.Register{DealID: "d-9", PartnerID: "nobody", Customer: acme, Geography: "emea",
			Segments: []domain.Segment{domain.SegmentClientManagement}, ExpectedValue: domain.Money{Amount: 1, Currency: "USD"}}, code: domain.NotFound},
		{name: "register maintenance segment", deal: "d-9", when: domain.Register{DealID: "d-9", PartnerID: "var-1", Customer: acme, Geography: "emea",
			Segments: []domain.Segment{domain.SegmentMaintenance}, ExpectedValue: domain.Money{Amount: 1, Currency: "USD"}}, code: domain.Invalid},
		{name: "register twice", deal: "d-1", when: domain.Register{DealID: "d-1", PartnerID: "var-1", Customer: acme, Geography: "emea",
			Segments: []domain.Segment{domain.SegmentClientManagement}, ExpectedValue: domain.Money{Amount: 1, Currency: "USD"}}, code: domain.Conflict, rule: "deal.unique"},
		{name: "register against protected is a conflict case", given: []setup{approved}, deal: "d-2", when: domain.Register{DealID: "d-2", PartnerID: "var-2",
			Customer: domain.Customer{Name: "ACME, Inc.", Country: "us"}, Geography: "emea", Segments: []domain.Segment{domain.SegmentClientManagement},
			ExpectedValue: domain.Money{Amount: 1, Currency: "USD"}}, then: []string{"deal.registered", "deal.conflicted"}},
		{name: "approve", deal: "d-1", when: domain.Approve{}, then: []string{"deal.approved", "customerkey.reserved"}},
		{name: "approve twice", given: []setup{approved}, deal: "d-1", when: domain.Approve{}, code: domain.Conflict, rule: "registration.status"},
		{name: "second approval loses", given: []setup{approved, regD2}, deal: "d-2", when: domain.Approve{}, code: domain.Conflict, rule: "conflict.first_approved_wins"},
		{name: "override with reason", given: []setup{approved, regD2}, deal: "d-2", when: domain.Override{Reason: "var-2 ran the POC"}, then: []string{"deal.overridden", "customerkey.reserved"}},
		{name: "override without reason", given: []setup{approved, regD2}, deal: "d-2", when: domain.Override{}, code: domain.Invalid},
		{name: "override without conflict", deal: "d-1", when: domain.Override{Reason: "x"}, code: domain.Unprocessable, rule: "override.no_conflict"},
		{name: "reject", deal: "d-1", when: domain.Reject{Reason: "duplicate"}, then: []string{"deal.rejected"}},
		{name: "reject without reason", deal: "d-1", when: domain.Reject{}, code: domain.Invalid},
		{name: "return for info", deal: "d-1", when: domain.ReturnForInfo{Reason: "which site?"}, then: []string{"deal.returned"}},
		{name: "withdraw approved releases", given: []setup{approved}, deal: "d-1", when: domain.Withdraw{}, then: []string{"deal.withdrawn", "customerkey.released"}},
		{name: "extend", given: []setup{approved}, deal: "d-1", when: domain.Extend{}, then: []string{"deal.extended", "customerkey.reserved"}},
		{name: "extend beyond max", given: []setup{approved, extend, extend}, deal: "d-1", when: domain.Extend{}, code: domain.Unprocessable, rule: "registration.max_extensions"},
		{name: "extend pending", deal: "d-1", when: domain.Extend{}, code: domain.Conflict, rule: "registration.status"},
		{name: "expire early", given: []setup{approved}, deal: "d-1", when: domain.Expire{}, code: domain.Unprocessable, rule: "registration.not_expired"},
		{name: "expire after window", given: []setup{approved, func(w *world) { w.on("2026-06-01") }}, deal: "d-1", when: domain.Expire{}, then: []string{"deal.expired", "customerkey.released"}},
		{name: "won", given: []setup{approved}, deal: "d-1", when: domain.MarkWon{Reason: "PO signed"}, then: []string{"deal.won"}},
		{name: "won without reason", given: []setup{approved}, deal: "d-1", when: domain.MarkWon{}, code: domain.Invalid},
		{name: "won while pending", deal: "d-1", when: domain.MarkWon{Reason: "PO signed"}, code: domain.Conflict},
		{name: "won after expiry", given: []setup{approved, func(w *world) { w.on("2026-06-01") }}, deal: "d-1", when: domain.MarkWon{Reason: "late"}, code: domain.Unprocessable, rule: "registration.expired"},
		{name: "lost", given: []setup{approved}, deal: "d-1", when: domain.MarkLost{Reason: "budget"}, then: []string{"deal.lost", "customerkey.released"}},
		{name: "lost after won", given: []setup{approved, func(w *world) { w.must(w.dealCmd("d-1", domain.MarkWon{Reason: "PO"})) }}, deal: "d-1", when: domain.MarkLost{Reason: "PO cancelled"}, then: []string{"deal.lost", "customerkey.released"}},
		{name: "lost without reason", given: []setup{approved}, deal: "d-1", when: domain.MarkLost{}, code: domain.Invalid},
		{name: "resubmit returned", given: []setup{func(w *world) { w.must(w.dealCmd("d-1", domain.ReturnForInfo{Reason: "which site?"})) }}, deal: "d-1", when: domain.Resubmit{Info: "the Berlin site"}, then: []string{"deal.resubmitted"}},
		{name: "resubmit pending", deal: "d-1", when: domain.Resubmit{Info: "x"}, code: domain.Conflict, rule: "registration.status"},
		{name: "resubmit without info", given: []setup{func(w *world) { w.must(w.dealCmd("d-1", domain.ReturnForInfo{Reason: "which site?"})) }}, deal: "d-1", when: domain.Resubmit{}, code: domain.Invalid},
		{name: "engagement", deal: "d-1", when: domain.LogEngagement{Step: domain.StepDeployment, OccurredOn: domain.MustDate("2026-01-05")}, then: []string{"deal.engagement_logged"}},
		{name: "engagement unknown step", deal: "d-1", when: domain.LogEngagement{Step: "golf", OccurredOn: domain.MustDate("2026-01-05")}, code: domain.Invalid},
		{name: "engagement in future", deal: "d-1", when: domain.LogEngagement{Step: domain.StepDeployment, OccurredOn: domain.MustDate("2027-01-05")}, code: domain.Invalid},
		{name: "handoff", given: []setup{approved}, deal: "d-1", when: domain.HandOffService{OEMID: "hp", ToPartnerID: "var-1"}, then: []string{"deal.service_handoff"}},
		{name: "handoff twice", given: []setup{approved, handoff}, deal: "d-1", when: domain.HandOffService{OEMID: "hp", ToPartnerID: "var-2"}, code: domain.Conflict, rule: "handoff.once"},
		{name: "handoff to a partner not enrolled", given: []setup{approved}, deal: "d-1", when: domain.HandOffService{OEMID: "hp", ToPartnerID: "var-9"}, code: domain.Unprocessable, rule: "partner.exists"},
		{name: "handoff pending", deal: "d-1", when: domain.HandOffService{OEMID: "hp", ToPartnerID: "var-1"}, code: domain.Conflict},
		{name: "unknown deal", deal: "nope", when: domain.Approve{}, code: domain.NotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "2026-01-05")
			w.enroll("var-1", "emea", domain.TierGold)
			w.enroll("var-2", "emea", domain.TierGold)
			w.enroll("reg-1", "emea", domain.TierRegistered)
			w.register("d-1", "var-1", domain.SegmentClientManagement)
			for _, g := range tc.given {
				g(w)
			}
			evs, err := w.dealCmd(tc.deal, tc.when)
			if tc.code != "" {
				wantCode(t, err, tc.code, tc.rule)
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if got := types(evs); strings.Join(got, ",") != strings.Join(tc.then, ",") {
				t.Fatalf("events %v, want %v", got, tc.then)
			}
		})
	}
}

func regD2(w *world) {
	w.must(w.dealCmd("d-2", domain.Register{DealID: "d-2", PartnerID: "var-2", Customer: domain.Customer{Name: "Acme Corporation", Country: "US"},
		Geography: "emea", Segments: []domain.Segment{domain.SegmentClientManagement}, ExpectedValue: domain.Money{Amount: 1, Currency: "USD"}}))
}
func extend(w *world) { w.must(w.dealCmd("d-1", domain.Extend{})) }
func handoff(w *world) {
	w.must(w.dealCmd("d-1", domain.HandOffService{OEMID: "hp", ToPartnerID: "var-1"}))
}

func types(evs []domain.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.EventType())
	}
	return out
}

func TestRegistrationTierRefusalNamesTheRule(t *testing.T) {
	w := newWorld(t, "2026-01-05")
	w.enroll("var-17", "emea", domain.TierRegistered)
	_, err := w.dealCmd("d-1", domain.Register{DealID: "d-1", PartnerID: "var-17", Customer: acme, Geography: "emea",
		Segments: []domain.Segment{domain.SegmentClientManagement}, ExpectedValue: domain.Money{Amount: 1, Currency: "USD"}})
	if err == nil || err.Error() != "partner var-17 is registered tier; deal registration needs gold or platinum" {
		t.Fatalf("got %v", err)
	}
}

func TestPartnerCommands(t *testing.T) {
	usd := func(a int64) domain.Money { return domain.Money{Amount: a, Currency: "USD"} }
	tests := []struct {
		name  string
		id    string
		when  any
		then  []string
		code  domain.Code
		rule  string
		field string
	}{
		{name: "enroll", id: "n-1", when: domain.Enroll{PartnerID: "n-1", Name: "N", Kind: domain.KindSI, Geography: "emea"}, then: []string{"partner.enrolled"}},
		{name: "enroll twice", id: "var-1", when: domain.Enroll{PartnerID: "var-1", Name: "N", Kind: domain.KindVAR, Geography: "emea"}, code: domain.Conflict},
		{name: "enroll bad kind", id: "n-1", when: domain.Enroll{PartnerID: "n-1", Name: "N", Kind: "reseller", Geography: "emea"}, code: domain.Invalid},
		{name: "enroll bad id", id: "N 1", when: domain.Enroll{PartnerID: "N 1", Name: "N", Kind: domain.KindVAR, Geography: "emea"}, code: domain.Invalid},
		{name: "grandfather", id: "g-1", when: domain.Grandfather{PartnerID: "g-1", Name: "G", Kind: domain.KindVAR, Geography: "emea"}, then: []string{"partner.grandfathered", "geo.seat_taken"}},
		{name: "certify", id: "var-1", when: domain.Certify{PartnerID: "var-1", Engineer: "e", Segment: domain.SegmentAssetManagement, CertifiedOn: domain.MustDate("2026-01-01")}, then: []string{"partner.certified"}},
		{name: "certify unknown partner", id: "x", when: domain.Certify{PartnerID: "x", Engineer: "e", Segment: domain.SegmentAssetManagement, CertifiedOn: domain.MustDate("2026-01-01")}, code: domain.NotFound},
		{name: "certify support", id: "var-1", when: domain.Certify{PartnerID: "var-1", Engineer: "e", Segment: domain.SegmentSupport, CertifiedOn: domain.MustDate("2026-01-01")}, code: domain.Invalid},
		{name: "commit", id: "var-1", when: domain.Commit{PartnerID: "var-1", Segments: domain.SoftwareSegments, QuarterlyTarget: usd(1)}, then: []string{"partner.committed"}},
		{name: "commit no segments", id: "var-1", when: domain.Commit{PartnerID: "var-1", QuarterlyTarget: usd(1)}, code: domain.Invalid},
		{name: "gold without certification", id: "var-1", when: domain.ChangeTier{PartnerID: "var-1", Tier: domain.TierGold, Reason: "x"}, code: domain.Unprocessable, rule: "tier.gold.certified_engineers"},
		{name: "platinum from gold lacks engineers", id: "gold-1", when: domain.ChangeTier{PartnerID: "gold-1", Tier: domain.TierPlatinum, Reason: "x"}, code: domain.Unprocessable, rule: "tier.platinum.certified_engineers"},
		{name: "demote", id: "gold-1", when: domain.ChangeTier{PartnerID: "gold-1", Tier: domain.TierRegistered, Reason: "missed target"}, then: []string{"partner.tier_changed", "geo.seat_released"}},
		{name: "same tier", id: "gold-1", when: domain.ChangeTier{PartnerID: "gold-1", Tier: domain.TierGold, Reason: "x"}, code: domain.Conflict},
		{name: "tier without reason", id: "gold-1", when: domain.ChangeTier{PartnerID: "gold-1", Tier: domain.TierRegistered}, code: domain.Invalid},
		{name: "review demotes", id: "gold-1", when: domain.ReviewTier{PartnerID: "gold-1", Quarter: domain.MustQuarter("2025Q4"), Credited: usd(0)}, then: []string{"partner.tier_changed", "geo.seat_released"}},
		{name: "review keeps", id: "gold-1", when: domain.ReviewTier{PartnerID: "gold-1", Quarter: domain.MustQuarter("2025Q4"), Credited: usd(6_000_000)}, then: []string{"partner.tier_reviewed"}},
		{name: "seats", id: "", when: domain.SetSeats{Geography: "emea", Platinum: 2, Gold: 5}, then: []string{"geo.seats_set"}},
		// Partner history (issue 13 item 4): ordered past tiers before today, after joined_on.
		{name: "enroll with history", id: "h-1", when: domain.Enroll{PartnerID: "h-1", Name: "H", Kind: domain.KindVAR, Geography: "emea", JoinedOn: domain.MustDate("2019-03-01"), TierHistory: hist("registered", "2019-03-01", "gold", "2024-01-01")}, then: []string{"partner.enrolled"}},
		{name: "history bad tier", id: "h-1", when: domain.Enroll{PartnerID: "h-1", Name: "H", Kind: domain.KindVAR, Geography: "emea", TierHistory: hist("diamond", "2024-01-01")}, code: domain.Invalid, field: "tier_history[0].tier"},
		{name: "history out of order", id: "h-1", when: domain.Enroll{PartnerID: "h-1", Name: "H", Kind: domain.KindVAR, Geography: "emea", TierHistory: hist("gold", "2024-01-01", "platinum", "2023-06-01")}, code: domain.Invalid, field: "tier_history[1].from"},
		{name: "history on enrolment day", id: "h-1", when: domain.Enroll{PartnerID: "h-1", Name: "H", Kind: domain.KindVAR, Geography: "emea", TierHistory: hist("gold", "2026-01-05")}, code: domain.Invalid, field: "tier_history[0].from"},
		{name: "history before joined", id: "h-1", when: domain.Enroll{PartnerID: "h-1", Name: "H", Kind: domain.KindVAR, Geography: "emea", JoinedOn: domain.MustDate("2024-02-01"), TierHistory: hist("gold", "2024-01-01")}, code: domain.Invalid, field: "tier_history[0].from"},
		{name: "history outside window", id: "h-1", when: domain.Enroll{PartnerID: "h-1", Name: "H", Kind: domain.KindVAR, Geography: "emea", TierHistory: hist("gold", "1999-12-31")}, code: domain.Invalid, field: "tier_history[0].from"},
		{name: "joined in the future", id: "h-1", when: domain.Enroll{PartnerID: "h-1", Name: "H", Kind: domain.KindVAR, Geography: "emea", JoinedOn: domain.MustDate("2026-01-06")}, code: domain.Invalid, field: "joined_on"},
		{name: "grandfather with history", id: "g-1", when: domain.Grandfather{PartnerID: "g-1", Name: "G", Kind: domain.KindVAR, Geography: "emea", TierHistory: hist("gold", "2015-01-01")}, then: []string{"partner.grandfathered", "geo.seat_taken"}},
		// The adoption import (issue 14 item 4): a partner adopted at the tier it holds.
		{name: "adopt platinum with history", id: "a-1", when: domain.Adopt{PartnerID: "a-1", Name: "A", Kind: domain.KindSI, Geography: "emea", Tier: domain.TierPlatinum, JoinedOn: domain.MustDate("2021-06-01"), TierHistory: hist("gold", "2021-06-01", "platinum", "2024-01-01")}, then: []string{"partner.enrolled", "geo.seat_taken"}},
		{name: "adopt registered", id: "a-1", when: domain.Adopt{PartnerID: "a-1", Name: "A", Kind: domain.KindVAR, Geography: "emea", Tier: domain.TierRegistered}, code: domain.Invalid, field: "tier"},
		{name: "adopt twice", id: "gold-1", when: domain.Adopt{PartnerID: "gold-1", Name: "A", Kind: domain.KindVAR, Geography: "emea", Tier: domain.TierGold}, code: domain.Conflict},
		{name: "adopt with history after today", id: "a-1", when: domain.Adopt{PartnerID: "a-1", Name: "A", Kind: domain.KindVAR, Geography: "emea", Tier: domain.TierGold, TierHistory: hist("gold", "2026-02-01")}, code: domain.Invalid, field: "tier_history[0].from"},
		{name: "override without grandfathering", id: "gold-1", when: domain.ChangeTier{PartnerID: "gold-1", Tier: domain.TierRegistered, Reason: "x", Override: true}, code: domain.Invalid, field: "override"},
		{name: "seats negative", id: "", when: domain.SetSeats{Geography: "emea", Platinum: -1}, code: domain.Invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "2026-01-05")
			w.enroll("var-1", "emea", domain.TierRegistered)
			w.enroll("gold-1", "emea", domain.TierGold)
			evs, err := w.partnerCmd(tc.id, "emea", tc.when)
			if tc.code != "" {
				wantCode(t, err, tc.code, tc.rule)
				var de *domain.Error
				if errors.As(err, &de) && tc.field != "" && de.Field != tc.field {
					t.Fatalf("field %q, want %q: %v", de.Field, tc.field, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if got := types(evs); strings.Join(got, ",") != strings.Join(tc.then, ",") {
				t.Fatalf("events %v, want %v", got, tc.then)
			}
		})
	}
}

// hist builds past tiers from tier, date pairs.
func hist(pairs ...string) []domain.PastTier {
	var out []domain.PastTier
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, domain.PastTier{Tier: domain.Tier(pairs[i]), From: domain.MustDate(pairs[i+1])})
	}
	return out
}

// TestGrandfatheredDemotionNeedsOverride: rule 5 exempts a grandfathered partner from
// demotion until its review date; only an admin override with a reason demotes it, and
// the event records the override. After the review date a plain demotion goes through.
func TestGrandfatheredDemotionNeedsOverride(t *testing.T) {
	w := newWorld(t, "2026-01-05")
	w.must(w.partnerCmd("g-1", "emea", domain.Grandfather{PartnerID: "g-1", Name: "G", Kind: domain.KindVAR, Geography: "emea", ReviewOn: domain.MustDate("2026-06-30")}))
	w.on("2026-01-06")
	_, err := w.partnerCmd("g-1", "", domain.ChangeTier{PartnerID: "g-1", Tier: domain.TierRegistered, Reason: "missed target"})
	wantCode(t, err, domain.Unprocessable, "tier.grandfathered")
	if !strings.Contains(err.Error(), "2026-06-30") {
		t.Fatalf("refusal %q does not name the review date", err)
	}
	if got := w.partners["g-1"]; got.Tier != domain.TierGold || !got.Grandfathered {
		t.Fatalf("refusal changed the partner: %+v", got)
	}
	evs := w.must(w.partnerCmd("g-1", "", domain.ChangeTier{PartnerID: "g-1", Tier: domain.TierRegistered, Reason: "contract terminated", Override: true}))
	tc, ok := evs[0].(domain.TierChanged)
	if !ok || !tc.Override || tc.Reason != "contract terminated" || tc.To != domain.TierRegistered {
		t.Fatalf("override events %+v", evs)
	}
	if got := w.partners["g-1"]; got.Grandfathered || got.Tier != domain.TierRegistered {
		t.Fatalf("after override: %+v", got)
	}

	w2 := newWorld(t, "2026-01-05")
	w2.must(w2.partnerCmd("g-2", "emea", domain.Grandfather{PartnerID: "g-2", Name: "G", Kind: domain.KindVAR, Geography: "emea", ReviewOn: domain.MustDate("2026-03-31")}))
	w2.on("2026-03-31")
	w2.must(w2.partnerCmd("g-2", "", domain.ChangeTier{PartnerID: "g-2", Tier: domain.TierRegistered, Reason: "review date reached"}))
}

// TestTierHistoryGivesPastRates: a partner enrolled today with "gold since 2024-01-01"
// held gold on an earlier date, and registered before it (never the enrolment tier
// extended backwards).
func TestTierHistoryGivesPastRates(t *testing.T) {
	w := newWorld(t, "2026-01-05")
	w.must(w.partnerCmd("h-1", "emea", domain.Enroll{PartnerID: "h-1", Name: "H", Kind: domain.KindVAR, Geography: "emea",
		JoinedOn: domain.MustDate("2020-05-01"), TierHistory: hist("gold", "2024-01-01")}))
	p := w.partners["h-1"]
	for _, tc := range []struct{ on, want string }{
		{"2023-12-31", "registered"}, {"2024-01-01", "gold"}, {"2025-12-01", "gold"}, {"2026-01-05", "registered"},
	} {
		if got := p.TierOn(domain.MustDate(tc.on)); string(got) != tc.want {
			t.Errorf("TierOn(%s) = %s, want %s", tc.on, got, tc.want)
		}
	}
	if p.JoinedOn != domain.MustDate("2020-05-01") {
		t.Fatalf("joined_on %s", p.JoinedOn)
	}
}

func TestReviewPromotesWithScorecard(t *testing.T) {
	w := newWorld(t, "2026-01-05")
	w.enroll("gold-1", "emea", domain.TierGold)
	w.must(w.partnerCmd("gold-1", "", domain.Certify{PartnerID: "gold-1", Engineer: "second", Segment: domain.SegmentServerManagement, CertifiedOn: domain.MustDate("2026-01-02")}))
	w.must(w.partnerCmd("gold-1", "", domain.Commit{PartnerID: "gold-1", Segments: domain.SoftwareSegments, QuarterlyTarget: domain.Money{Amount: 30_000_000, Currency: "USD"}}))
	evs := w.must(w.partnerCmd("gold-1", "", domain.ReviewTier{PartnerID: "gold-1", Quarter: domain.MustQuarter("2025Q4"), Credited: domain.Money{Amount: 26_000_000, Currency: "USD"}}))
	tc := evs[0].(domain.TierChanged)
	if tc.To != domain.TierPlatinum || !tc.Review || tc.Scorecard == nil || tc.Scorecard.Eligible != domain.TierPlatinum {
		t.Fatalf("%+v", tc)
	}
}

func TestPolicyQuarterAndFieldRepCommands(t *testing.T) {
	now := domain.MustDate("2026-04-02").Time()
	good := domain.SetPolicy{EffectiveFrom: domain.MustDate("2026-04-02"), RebateBPS: map[domain.Tier]int64{domain.TierGold: 400, domain.TierPlatinum: 900},
		RegistrationDays: 60, MaxExtensions: 1, ClaimGraceDays: 15, PlatinumMinTarget: domain.Money{Amount: 1, Currency: "USD"}, GoldMinTarget: domain.Money{Amount: 1, Currency: "USD"}}
	evs, err := domain.DecideSetPolicy(domain.PolicyHistory{}, good, now)
	if err != nil || evs[0].(domain.PolicySet).Version != 1 {
		t.Fatalf("%v %v", evs, err)
	}
	back := good
	back.EffectiveFrom = domain.MustDate("2026-01-01")
	_, err = domain.DecideSetPolicy(domain.PolicyHistory{}, back, now)
	wantCode(t, err, domain.Unprocessable, "policy.no_backdating")
	bad := good
	bad.RebateBPS = map[domain.Tier]int64{domain.TierGold: 20000, domain.TierPlatinum: 1}
	_, err = domain.DecideSetPolicy(domain.PolicyHistory{}, bad, now)
	wantCode(t, err, domain.Invalid, "")

	q := domain.MustQuarter("2026Q1")
	evs, err = domain.DecideCloseQuarter(domain.QuarterState{}, domain.CloseQuarter{Quarter: q}, now)
	if err != nil || len(evs) != 1 {
		t.Fatal(err)
	}
	_, err = domain.DecideCloseQuarter(domain.EvolveQuarter(domain.QuarterState{}, evs[0]), domain.CloseQuarter{Quarter: q}, now)
	wantCode(t, err, domain.Conflict, "quarter.closed_once")
	_, err = domain.DecideCloseQuarter(domain.QuarterState{}, domain.CloseQuarter{Quarter: domain.MustQuarter("2026Q2")}, now)
	wantCode(t, err, domain.Unprocessable, "quarter.ended")

	if _, err := domain.DecideAssignFieldRep(domain.FieldRep{}, domain.AssignFieldRep{RepID: "rep-1", Name: "R", Geography: "emea", SizeBand: "enterprise"}, now); err != nil {
		t.Fatal(err)
	}
	_, err = domain.DecideAssignFieldRep(domain.FieldRep{}, domain.AssignFieldRep{RepID: "rep-1", Name: "R", Geography: "emea"}, now)
	wantCode(t, err, domain.Invalid, "")
}

func TestFieldRepCreditedWhenDealGoesThroughPartner(t *testing.T) {
	w := newWorld(t, "2026-01-05")
	w.enroll("var-1", "emea", domain.TierGold)
	w.fold(domain.FieldRepAssigned{RepID: "rep-1", Name: "R", Geography: "emea", SizeBand: "enterprise", On: domain.MustDate("2026-01-01")},
		domain.FieldRepAssigned{RepID: "rep-2", Name: "S", Geography: "apac", SizeBand: "enterprise", On: domain.MustDate("2026-01-01")})
	w.register("d-1", "var-1", domain.SegmentClientManagement)
	w.must(w.dealCmd("d-1", domain.Approve{}))
	cs := w.fold(invoice("HP-9", 1, "2026-02-01", line(1, domain.SegmentClientManagement, 1, 1000)))
	if sum(cs, domain.CreditFieldRep, "rep-1") != 1000 || sum(cs, domain.CreditFieldRep, "rep-2") != 0 {
		t.Fatalf("%+v", cs)
	}
}
