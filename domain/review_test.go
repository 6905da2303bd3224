package domain_test

import (
	"fmt"
	"strings"
	"testing"

	"dealcredit/domain"
)

var reviewQ = domain.MustQuarter("2026Q1")

// reviewToday is the day the reviews of these tests run: after reviewQ.
var reviewToday = domain.MustDate("2026-04-02")

func usdM(major int64) domain.Money { return domain.Money{Amount: major * 100, Currency: "USD"} }

// platinumReady is a partner meeting Platinum's requirements (two engineers, three segments,
// a 300,000.00 USD target), at tier.
func platinumReady(id string, tier domain.Tier) domain.PartnerState {
	return domain.PartnerState{ID: id, Kind: domain.KindVAR, Geography: "emea", Tier: tier,
		Certifications: []domain.Certification{{PartnerID: id, Engineer: "a", Status: domain.CertConfirmed}, {PartnerID: id, Engineer: "b", Status: domain.CertConfirmed}},
		Segments:       domain.SoftwareSegments, QuarterlyTarget: usdM(300_000)}
}

// goldReady meets Gold's requirements only.
func goldReady(id string, tier domain.Tier) domain.PartnerState {
	return domain.PartnerState{ID: id, Kind: domain.KindVAR, Geography: "emea", Tier: tier,
		Certifications: []domain.Certification{{PartnerID: id, Engineer: "a", Status: domain.CertConfirmed}},
		Segments:       domain.SoftwareSegments[:1], QuarterlyTarget: usdM(60_000)}
}

func grandfatheredGold(id string, reviewOn string) domain.PartnerState {
	p := goldReady(id, domain.TierGold)
	p.Grandfathered, p.ReviewOn = true, domain.MustDate(reviewOn)
	return p
}

// seatsOf is emea with capacity and holders per tier.
func seatsOf(platinum, gold int, holders map[domain.Tier][]string) domain.GeoState {
	return domain.GeoState{Geography: "emea", Capacity: map[domain.Tier]int{domain.TierPlatinum: platinum, domain.TierGold: gold},
		Holders: holders, Waitlist: map[domain.Tier][]string{}}
}

// TestProposeReview: given the partners, their credited revenue and emea's seats, the
// review proposes these tiers (partner: action to [waitlist]).
func TestProposeReview(t *testing.T) {
	plat, gold := domain.TierPlatinum, domain.TierGold
	tests := []struct {
		name string
		in   []domain.Reviewee
		geo  domain.GeoState
		want []string
	}{
		{name: "promotion within the seats",
			in:   []domain.Reviewee{{platinumReady("g1", gold), usdM(300_000)}, {platinumReady("p1", plat), usdM(250_000)}},
			geo:  seatsOf(2, 10, map[domain.Tier][]string{plat: {"p1"}, gold: {"g1"}}),
			want: []string{"g1: promote platinum", "p1: keep platinum"}},
		{name: "platinum seats full: waitlist, no seat",
			in:   []domain.Reviewee{{platinumReady("g1", gold), usdM(300_000)}, {platinumReady("p1", plat), usdM(250_000)}},
			geo:  seatsOf(1, 10, map[domain.Tier][]string{plat: {"p1"}, gold: {"g1"}}),
			want: []string{"g1: waitlist gold [platinum]", "p1: keep platinum"}},
		{name: "one seat, two eligible: the higher credited revenue wins",
			in:   []domain.Reviewee{{platinumReady("g1", gold), usdM(260_000)}, {platinumReady("g2", gold), usdM(400_000)}},
			geo:  seatsOf(1, 10, map[domain.Tier][]string{gold: {"g1", "g2"}}),
			want: []string{"g1: waitlist gold [platinum]", "g2: promote platinum"}},
		{name: "one seat, two eligible: the waitlist comes first",
			in: []domain.Reviewee{{platinumReady("g1", gold), usdM(260_000)}, {platinumReady("g2", gold), usdM(400_000)}},
			geo: func() domain.GeoState {
				g := seatsOf(1, 10, map[domain.Tier][]string{gold: {"g1", "g2"}})
				g.Waitlist[plat] = []string{"g1"}
				return g
			}(),
			want: []string{"g1: promote platinum", "g2: waitlist gold [platinum]"}},
		{name: "a freed seat offered to the head of the waitlist is held for it",
			in: []domain.Reviewee{{platinumReady("g2", gold), usdM(400_000)}},
			geo: func() domain.GeoState {
				g := seatsOf(1, 10, map[domain.Tier][]string{gold: {"g1", "g2"}})
				g.Waitlist[plat] = []string{"g1"}
				g.Offers = map[domain.Tier]domain.SeatOffer{plat: {PartnerID: "g1", Until: reviewToday.AddDays(3)}}
				return g
			}(),
			want: []string{"g2: waitlist gold [platinum]"}},
		{name: "registered eligible for platinum, platinum full: gold now, waitlisted for platinum",
			in:   []domain.Reviewee{{platinumReady("r1", domain.TierRegistered), usdM(300_000)}},
			geo:  seatsOf(0, 10, nil),
			want: []string{"r1: promote gold [platinum]"}},
		{name: "grandfathered partner kept until its review date",
			in:   []domain.Reviewee{{grandfatheredGold("bp-1", "2026-06-30"), usdM(0)}},
			geo:  seatsOf(1, 0, map[domain.Tier][]string{gold: {"bp-1"}}),
			want: []string{"bp-1: grandfathered gold"}},
		{name: "grandfathered partner past its review date is demoted",
			in:   []domain.Reviewee{{grandfatheredGold("bp-1", "2026-03-31"), usdM(0)}},
			geo:  seatsOf(1, 0, map[domain.Tier][]string{gold: {"bp-1"}}),
			want: []string{"bp-1: demote registered"}},
		{name: "platinum demoted to gold with gold full goes to registered",
			in:   []domain.Reviewee{{platinumReady("p1", plat), usdM(100_000)}},
			geo:  seatsOf(1, 1, map[domain.Tier][]string{plat: {"p1"}, gold: {"g9"}}),
			want: []string{"p1: demote registered"}},
		{name: "platinum demoted to gold with a gold seat",
			in:   []domain.Reviewee{{platinumReady("p1", plat), usdM(100_000)}},
			geo:  seatsOf(1, 2, map[domain.Tier][]string{plat: {"p1"}, gold: {"g9"}}),
			want: []string{"p1: demote gold"}},
		{name: "unlimited seats",
			in:   []domain.Reviewee{{platinumReady("g1", gold), usdM(300_000)}, {platinumReady("g2", gold), usdM(300_000)}},
			geo:  domain.GeoState{Geography: "emea"},
			want: []string{"g1: promote platinum", "g2: promote platinum"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := domain.ProposeReview(reviewQ, domain.DefaultPolicy(), tc.in, map[string]domain.GeoState{"emea": tc.geo}, reviewToday)
			var lines []string
			for _, p := range got {
				s := fmt.Sprintf("%s: %s %s", p.PartnerID, p.Action, p.To)
				if p.Waitlist != "" {
					s += " [" + string(p.Waitlist) + "]"
				}
				lines = append(lines, s)
				if p.Scorecard.Quarter != reviewQ || p.Reason == "" {
					t.Errorf("%s: scorecard quarter %s, reason %q", p.PartnerID, p.Scorecard.Quarter, p.Reason)
				}
			}
			if strings.Join(lines, "; ") != strings.Join(tc.want, "; ") {
				t.Errorf("proposals\n got %q\nwant %q", lines, tc.want)
			}
		})
	}
}

// TestDecideRunReview: a review is a new revision unless its proposals are the latest's.
func TestDecideRunReview(t *testing.T) {
	props := domain.ProposeReview(reviewQ, domain.DefaultPolicy(), []domain.Reviewee{{platinumReady("g1", domain.TierGold), usdM(300_000)}}, nil, reviewToday)
	first := domain.ReviewRun{ReviewID: "2026Q1-r1", Quarter: reviewQ, Revision: 1, On: reviewToday, Proposals: props}
	other := append([]domain.Proposal(nil), props...)
	other[0].Action, other[0].To = domain.ReviewKeep, domain.TierGold
	tests := []struct {
		name   string
		given  []domain.Event
		cmd    domain.RunReview
		wantID string // "" = nothing appended
		rule   string
		code   domain.Code // of the refusal; Unprocessable when empty
	}{
		{name: "first run", cmd: domain.RunReview{Quarter: reviewQ, Proposals: props}, wantID: "2026Q1-r1"},
		{name: "same proposals: the same review", given: []domain.Event{first}, cmd: domain.RunReview{Quarter: reviewQ, Proposals: props, CreditsPosition: 99}},
		{name: "changed facts: a new revision", given: []domain.Event{first}, cmd: domain.RunReview{Quarter: reviewQ, Proposals: other}, wantID: "2026Q1-r2"},
		{name: "a quarter not begun", cmd: domain.RunReview{Quarter: domain.MustQuarter("2026Q3"), Proposals: props}, rule: "review.quarter_started"},
		// Quarters outside the accepted years are refused as input, like a quarter close.
		{name: "a quarter before 2000", cmd: domain.RunReview{Quarter: domain.MustQuarter("1999Q4"), Proposals: props}, code: domain.Invalid},
		{name: "the year 0001", cmd: domain.RunReview{Quarter: domain.MustQuarter("0001Q1"), Proposals: props}, code: domain.Invalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var st domain.ReviewState
			for _, e := range tc.given {
				st = domain.EvolveReview(st, e)
			}
			evs, err := domain.DecideRunReview(st, tc.cmd, reviewToday)
			if tc.code != "" {
				wantCode(t, err, tc.code, tc.rule)
				return
			}
			if tc.rule != "" {
				wantCode(t, err, domain.Unprocessable, tc.rule)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.wantID == "" && len(evs) != 0:
				t.Fatalf("appended %v, want nothing", evs)
			case tc.wantID != "" && (len(evs) != 1 || evs[0].(domain.ReviewRun).ReviewID != tc.wantID):
				t.Fatalf("appended %v, want review %s", evs, tc.wantID)
			}
		})
	}
}

// TestDecideApplyProposal: given a review and the partner's state now, applying its
// proposal appends these events, nothing (applied before) or a rule's refusal.
func TestDecideApplyProposal(t *testing.T) {
	plat, gold := domain.TierPlatinum, domain.TierGold
	g1 := platinumReady("g1", gold)
	full := seatsOf(1, 10, map[domain.Tier][]string{plat: {"p1"}, gold: {"g1", "p1x"}})
	free := seatsOf(2, 10, map[domain.Tier][]string{plat: {"p1"}, gold: {"g1"}})
	review := func(geo domain.GeoState) domain.ReviewState {
		props := domain.ProposeReview(reviewQ, domain.DefaultPolicy(), []domain.Reviewee{{g1, usdM(300_000)}}, map[string]domain.GeoState{"emea": geo}, reviewToday)
		return domain.EvolveReview(domain.ReviewState{}, domain.ReviewRun{ReviewID: "2026Q1-r1", Quarter: reviewQ, Revision: 1, On: reviewToday, Proposals: props})
	}
	applied := func(st domain.ReviewState) domain.ReviewState {
		return domain.EvolveReview(st, domain.ProposalApplied{ReviewID: "2026Q1-r1", Quarter: reviewQ, PartnerID: "g1"})
	}
	promoted := platinumReady("g1", plat)
	tests := []struct {
		name    string
		st      domain.ReviewState
		p       domain.PartnerState
		geo     domain.GeoState
		partner string
		then    []string
		code    domain.Code
		rule    string
	}{
		{name: "promotion", st: review(free), p: g1, geo: free, partner: "g1",
			then: []string{"partner.tier_changed", "geo.seat_released", "geo.seat_taken", "review.proposal_applied"}},
		{name: "applied twice appends nothing", st: applied(review(free)), p: promoted, geo: free, partner: "g1"},
		{name: "stale: the tier changed since", st: review(free), p: promoted, geo: free, partner: "g1", code: domain.Conflict, rule: "review.stale"},
		{name: "stale: the seats were taken since", st: review(free), p: g1, geo: full, partner: "g1", code: domain.Conflict, rule: "review.seats_changed"},
		{name: "no seat: waitlisted", st: review(full), p: g1, geo: full, partner: "g1",
			then: []string{"partner.tier_reviewed", "geo.seat_waitlisted", "review.proposal_applied"}},
		{name: "no review", p: g1, geo: free, partner: "g1", code: domain.NotFound, rule: "review.exists"},
		{name: "no proposal for the partner", st: review(free), p: g1, geo: free, partner: "zz", code: domain.NotFound, rule: "review.proposal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := domain.DecideApplyProposal(tc.st, tc.p, tc.geo, domain.ApplyProposal{Quarter: reviewQ, PartnerID: tc.partner}, reviewToday)
			if tc.code != "" {
				wantCode(t, err, tc.code, tc.rule)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, e := range evs {
				types = append(types, e.EventType())
				switch e := e.(type) {
				case domain.TierChanged:
					if e.ReviewID != "2026Q1-r1" || !e.Review || e.Scorecard == nil || e.To != plat {
						t.Errorf("tier change does not cite the review: %+v", e)
					}
				case domain.TierReviewed:
					if e.ReviewID != "2026Q1-r1" {
						t.Errorf("tier reviewed does not cite the review: %+v", e)
					}
				}
			}
			if strings.Join(types, ",") != strings.Join(tc.then, ",") {
				t.Errorf("events %v, want %v", types, tc.then)
			}
		})
	}
}
