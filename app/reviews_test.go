package app_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"dealcredit/app"
	"dealcredit/domain"
	"dealcredit/eventstore"
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

// interleavedStore is the real store on which another decision is appended
// just before the first read of stream before: a decision that read other
// streams first sees them as they were and this one as it now is.
type interleavedStore struct {
	eventstore.Store
	before string
	once   sync.Once
	other  func() error
	err    error
}

func (s *interleavedStore) ReadStream(ctx context.Context, stream string, after int64) ([]eventstore.Record, error) {
	if stream == s.before {
		s.once.Do(func() { s.err = s.other() })
		if s.err != nil {
			return nil, s.err
		}
	}
	return s.Store.ReadStream(ctx, stream, after)
}

// batchedInterleavedStore is an interleavedStore that also reads many
// streams in one call, as the Postgres store does.
type batchedInterleavedStore struct{ *interleavedStore }

func (s batchedInterleavedStore) ReadStreams(ctx context.Context, streams []string) (map[string][]eventstore.Record, error) {
	return s.Store.(eventstore.StreamsReader).ReadStreams(ctx, streams)
}

// TestApplyProposalOnATornReadIsDecidedAgain: applying g1's proposal reads
// the review, then the partner. If "apply all" promotes g1 between the two
// reads, the decision sees the proposal unapplied and g1 already platinum;
// refusing it as stale would be wrong (nothing is stale: it was applied).
// The refusal rests on a stream that moved, so it is decided again, and
// the answer is "already applied". Both ways of checking the streams again
// (one at a time, all in one read) are covered.
func TestApplyProposalOnATornReadIsDecidedAgain(t *testing.T) {
	for _, batched := range []bool{false, true} {
		t.Run(fmt.Sprintf("batched=%v", batched), func(t *testing.T) {
			testApplyProposalOnATornRead(t, batched)
		})
	}
}

func testApplyProposalOnATornRead(t *testing.T, batched bool) {
	f := newFixture(t)
	q := domain.MustQuarter("2025Q4")
	f.ok(f.svc.SetSeats(f.ctx, channel, domain.SetSeats{Geography: "emea", Platinum: 2, Gold: 10}))
	f.partner("g1", "emea", domain.KindVAR, domain.TierGold)
	f.aimHigher("g1")
	f.ok(f.svc.RunReview(f.ctx, channel, app.RunReview{Quarter: q, Partners: []string{"g1"}, CreditsPosition: 1,
		Credited: map[string][]domain.Money{"g1": {{Amount: 40_000_000, Currency: "USD"}}}}))

	torn := &interleavedStore{Store: f.store, before: domain.PartnerStream("g1"), other: func() error {
		_, err := f.svc.ApplyProposal(f.ctx, channel, domain.ApplyProposal{Quarter: q, PartnerID: "g1"})
		return err
	}}
	var store eventstore.Store = torn
	if batched {
		store = batchedInterleavedStore{torn}
	}
	svc := app.New(store, app.WithClock(f.clock.Now))
	res, err := svc.ApplyProposal(f.ctx, channel, domain.ApplyProposal{Quarter: q, PartnerID: "g1"})
	if err != nil || torn.err != nil {
		t.Fatalf("apply on a torn read: %v (the interleaved apply: %v)", err, torn.err)
	}
	if len(res.Events) != 0 {
		t.Errorf("apply on a torn read appended %v, want nothing (already applied)", res.EventTypes())
	}
	n := 0
	for _, typ := range f.streamTypes(domain.PartnerStream("g1")) {
		if typ == "partner.tier_changed" {
			n++
		}
	}
	if n != 2 { // gold at enrolment, platinum by the review
		t.Errorf("g1 has %d tier changes, want 2", n)
	}
}
