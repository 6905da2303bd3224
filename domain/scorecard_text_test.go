package domain_test

import (
	"slices"
	"testing"

	"dealcredit/domain"
)

// Each unmet requirement is a full sentence in major units (issue 13 item 6:
// a requirement read "has 0 " and targets were printed in minor units).
func TestScorecardUnmetSentences(t *testing.T) {
	q := domain.MustQuarter("2026Q4")
	usd := func(minor int64) domain.Money { return domain.Money{Amount: minor, Currency: "USD"} }
	certs := func(n int) []domain.Certification {
		var out []domain.Certification
		for i := range n {
			out = append(out, domain.Certification{Engineer: string(rune('a' + i)), Segment: domain.SegmentClientManagement, Status: domain.CertConfirmed})
		}
		return out
	}
	all := []domain.Segment{domain.SegmentClientManagement, domain.SegmentServerManagement, domain.SegmentAssetManagement}
	tests := []struct {
		name     string
		p        domain.PartnerState
		credited domain.Money
		eligible domain.Tier
		unmet    []string
	}{
		{"registered, nothing set", domain.PartnerState{Tier: domain.TierRegistered}, usd(690000), domain.TierRegistered, []string{
			"gold tier needs at least 1 certified engineer(s); has 0",
			"gold tier needs a commitment to one software segment; has 0",
			"gold tier needs a quarterly target of at least 50,000.00 USD; has none",
			"gold tier needs credited revenue of at least 50,000.00 USD in 2026Q4; has 6,900.00 USD",
		}},
		{"platinum short of revenue", domain.PartnerState{Tier: domain.TierPlatinum, Certifications: certs(2), Segments: all,
			QuarterlyTarget: usd(30_000_000)}, usd(690000), domain.TierRegistered, []string{
			"platinum tier needs credited revenue of at least 250,000.00 USD in 2026Q4; has 6,900.00 USD",
		}},
		{"gold eligible, platinum at .5 cent short", domain.PartnerState{Tier: domain.TierGold, Certifications: certs(1),
			Segments: all[:1], QuarterlyTarget: usd(5_000_000)}, usd(24_999_999), domain.TierGold, []string{
			"platinum tier needs at least 2 certified engineer(s); has 1",
			"platinum tier needs a commitment to all three software segments; has 1",
			"platinum tier needs a quarterly target of at least 250,000.00 USD; has 50,000.00 USD",
			"platinum tier needs credited revenue of at least 250,000.00 USD in 2026Q4; has 249,999.99 USD",
		}},
		{"target in JPY", domain.PartnerState{Tier: domain.TierRegistered, Certifications: certs(1), Segments: all[:1],
			QuarterlyTarget: domain.Money{Amount: 8_000_000, Currency: "JPY"}}, usd(0), domain.TierRegistered, []string{
			"gold tier needs a quarterly target of at least 50,000.00 USD; has 8,000,000 JPY",
			"gold tier needs credited revenue of at least 50,000.00 USD in 2026Q4; has 0.00 USD",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := domain.ScorePartner(tc.p, domain.DefaultPolicy(), q, tc.credited)
			if sc.Eligible != tc.eligible || !slices.Equal(sc.Unmet, tc.unmet) {
				t.Errorf("eligible %s, unmet\n%q\nwant %s,\n%q", sc.Eligible, sc.Unmet, tc.eligible, tc.unmet)
			}
		})
	}
}

// The revenue mix keeps corrections of a closed quarter apart from the
// quarter's own figures (issue 13 item 6: -10,000 direct and -58,000
// indirect of Q3 were silently inside Q4).
func TestRevenueMixAdjustmentsApart(t *testing.T) {
	q4, q3 := domain.MustQuarter("2026Q4"), domain.MustQuarter("2026Q3")
	c := func(kind domain.CreditKind, minor int64, adj bool) domain.Credit {
		cr := domain.Credit{Kind: kind, Quarter: q4, Amount: domain.Money{Amount: minor, Currency: "USD"}, Adjustment: adj}
		if adj {
			cr.AdjustsQuarter = q3
		}
		return cr
	}
	got, err := domain.RevenueMix(q4, []domain.Credit{
		c(domain.CreditDirect, 130000, false), c(domain.CreditRevenue, 870000, false), c(domain.CreditRebate, 43500, false),
		c(domain.CreditDirect, -1000000, true), c(domain.CreditRevenue, -5800000, true), c(domain.CreditRebate, -290000, true),
	})
	want := []domain.Mix{{Quarter: q4, Currency: "USD", Direct: 130000, Indirect: 870000, IndirectShareBPS: 8700,
		AdjustmentDirect: -1000000, AdjustmentIndirect: -5800000}}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("mix %+v %v, want %+v", got, err, want)
	}
}
