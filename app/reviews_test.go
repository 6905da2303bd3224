package app_test

import (
	"slices"
	"sync"
	"testing"

	"dealcredit/app"
	"dealcredit/domain"
)

// aimHigher gives a Gold partner Platinum's requirements (a second engineer,
// all three segments, a Platinum target).
func (f *fixture) aimHigher(id string) {
	f.t.Helper()
	f.ok(f.svc.Certify(f.ctx, channel, domain.Certify{PartnerID: id, Engineer: "eng-9", Segment: domain.SegmentServerManagement,
		CertifiedOn: domain.DateOf(f.clock.Now())}))
	f.ok(f.svc.Commit(f.ctx, channel, domain.Commit{PartnerID: id, Segments: domain.SoftwareSegments,
		QuarterlyTarget: domain.Money{Amount: 30_000_000, Currency: "USD"}}))
}

// TestReviewCommands: a review scores the partners it is given (OEMs and
// unknown ids aside) with their credited revenue in the policy's currency;
// run twice on the same facts it is the same review; applying one proposal
// and all of them at the same time applies each exactly once, within the
// seats.
func TestReviewCommands(t *testing.T) {
	f := newFixture(t)
	q := domain.MustQuarter("2025Q4")
	f.ok(f.svc.SetSeats(f.ctx, channel, domain.SetSeats{Geography: "emea", Platinum: 2, Gold: 10}))
	f.partner("p1", "emea", domain.KindVAR, domain.TierPlatinum)
	for _, id := range []string{"g1", "g2"} {
		f.partner(id, "emea", domain.KindVAR, domain.TierGold)
		f.aimHigher(id)
	}
	f.partner("hp", "emea", domain.KindOEM, domain.TierRegistered)
	usd := func(n int64) []domain.Money {
		return []domain.Money{{Amount: n, Currency: "EUR"}, {Amount: n, Currency: "USD"}}
	}
	cmd := app.RunReview{Quarter: q, Partners: []string{"g1", "g2", "hp", "nobody", "p1"}, CreditsPosition: 7,
		Credited: map[string][]domain.Money{"p1": usd(30_000_000), "g1": usd(40_000_000), "g2": usd(30_000_000), "hp": usd(90_000_000)}}
	done, err := f.svc.RunReview(f.ctx, channel, cmd)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range done.Review.Latest.Proposals {
		got = append(got, p.PartnerID+":"+string(p.Action))
	}
	if !done.New || done.Review.Latest.ReviewID != "2025Q4-r1" || !slices.Equal(got, []string{"g1:promote", "g2:waitlist", "p1:keep"}) {
		t.Fatalf("review %s (new %v): %v", done.Review.Latest.ReviewID, done.New, got)
	}
	if again, err := f.svc.RunReview(f.ctx, channel, cmd); err != nil || again.New || len(again.Events) != 0 || again.Review.Latest.ReviewID != "2025Q4-r1" {
		t.Fatalf("second run: new %v, events %v, err %v", again.New, again.EventTypes(), err)
	}

	// Apply one and apply all at once: g1 is promoted exactly once.
	var wg sync.WaitGroup
	var oneErr, allErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, oneErr = f.svc.ApplyProposal(f.ctx, channel, domain.ApplyProposal{Quarter: q, PartnerID: "g1"})
	}()
	go func() {
		defer wg.Done()
		_, _, allErr = f.svc.ApplyReview(f.ctx, channel, q)
	}()
	wg.Wait()
	if oneErr != nil || allErr != nil {
		t.Fatalf("apply one: %v; apply all: %v", oneErr, allErr)
	}
	count := func(stream, typ string) int {
		n := 0
		for _, x := range f.streamTypes(stream) {
			if x == typ {
				n++
			}
		}
		return n
	}
	if n := count(domain.PartnerStream("g1"), "partner.tier_changed"); n != 2 { // gold at enrolment, platinum by the review
		t.Errorf("g1 has %d tier changes, want 2", n)
	}
	if n := count(domain.ReviewStream(q), "review.proposal_applied"); n != 3 {
		t.Errorf("%d proposals applied, want 3 (once each)", n)
	}
	g, err := app.Load(f.ctx, f.svc, domain.GeographyStream("emea"), domain.GeoState{}, domain.EvolveGeo)
	if err != nil {
		t.Fatal(err)
	}
	if h := g.Holders[domain.TierPlatinum]; len(h) != 2 || g.WaitlistPosition(domain.TierPlatinum, "g2") != 1 {
		t.Errorf("platinum holders %v, waitlist %v", h, g.Waitlist[domain.TierPlatinum])
	}
	_, outcomes, err := f.svc.ApplyReview(f.ctx, channel, q)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outcomes {
		if o.Status != "already_applied" || len(o.Result.Events) != 0 {
			t.Errorf("apply all again: %s %s %v", o.PartnerID, o.Status, o.Result.EventTypes())
		}
	}
}
