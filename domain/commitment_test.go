package domain_test

import (
	"slices"
	"testing"
	"time"

	"dealcredit/domain"
)

// TestOutsideCommitment: rule 8a: the software segments of a registration its partner
// is not committed to; none without a commitment (a grandfathered partner before its
// first one) and never the non-software segments.
func TestOutsideCommitment(t *testing.T) {
	cm, sm, am, svc := domain.SegmentClientManagement, domain.SegmentServerManagement, domain.SegmentAssetManagement, domain.SegmentServices
	tests := []struct {
		name      string
		committed []domain.Segment
		segs      []domain.Segment
		want      []domain.Segment
	}{
		{"no commitment", nil, []domain.Segment{sm}, nil},
		{"within", []domain.Segment{cm}, []domain.Segment{cm, svc}, nil},
		{"outside", []domain.Segment{cm}, []domain.Segment{cm, sm, svc}, []domain.Segment{sm}},
		{"all three committed", []domain.Segment{cm, sm, am}, []domain.Segment{am, sm}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := domain.OutsideCommitment(domain.PartnerState{ID: "var-1", Segments: tc.committed}, tc.segs)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("OutsideCommitment = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestOutsideCommitmentRegisteredAndScored: a Gold partner committed to one segment
// registers in another: allowed, the event carries the flag, and the scorecard of the
// registration's quarter counts it.
func TestOutsideCommitmentRegisteredAndScored(t *testing.T) {
	p := domain.PartnerState{ID: "var-1", Kind: domain.KindVAR, Geography: "emea", Tier: domain.TierGold,
		Segments: []domain.Segment{domain.SegmentClientManagement}}
	cmd := domain.Register{DealID: "d-1", PartnerID: "var-1", Customer: domain.Customer{Name: "Acme", Country: "US"},
		Geography: "emea", Segments: []domain.Segment{domain.SegmentAssetManagement}, ExpectedValue: domain.Money{Amount: 100, Currency: "USD"}}
	evs, err := domain.DecideDeal(domain.DealState{}, domain.DealContext{Partner: p, Policy: domain.DefaultPolicy()}, cmd, time.Date(2026, 7, 10, 9, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	reg := evs[0].(domain.DealRegistered)
	if !slices.Equal(reg.OutsideCommitment, []domain.Segment{domain.SegmentAssetManagement}) {
		t.Fatalf("registration outside_commitment %v", reg.OutsideCommitment)
	}
	prog := domain.NewProgram()
	for i, e := range []domain.Event{
		domain.PartnerEnrolled{PartnerID: "var-1", Name: "V", Kind: domain.KindVAR, Geography: "emea", Tier: domain.TierGold, EnrolledOn: domain.MustDate("2026-06-01")},
		reg,
	} {
		if _, err := prog.Apply(domain.Envelope{Position: int64(i + 1), EventID: e.EventType(), StreamID: domain.StreamOf(e), Type: e.EventType(), Event: e}); err != nil {
			t.Fatal(err)
		}
	}
	for q, want := range map[string]int{"2026Q3": 1, "2026Q4": 0} {
		sc, _ := prog.Scorecard("var-1", domain.MustQuarter(q))
		if sc.OutsideCommitment != want {
			t.Errorf("%s scorecard counts %d registrations outside the commitment, want %d", q, sc.OutsideCommitment, want)
		}
	}
}
