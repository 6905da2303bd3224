package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
)

// ReviewAction is what a quarterly tier review proposes for one partner (rule 6).
type ReviewAction string

// Review actions.
const (
	// ReviewPromote moves the partner up to To (a seat of To was free at the review).
	ReviewPromote ReviewAction = "promote"
	// ReviewDemote moves the partner down to To.
	ReviewDemote ReviewAction = "demote"
	// ReviewKeep keeps the partner's tier (the scorecard is its tier's).
	ReviewKeep ReviewAction = "keep"
	// ReviewGrandfathered keeps a grandfathered partner's tier until its review date.
	ReviewGrandfathered ReviewAction = "grandfathered"
	// ReviewWaitlist keeps the tier: the partner is eligible for a higher one whose seats
	// are all taken (or held for the head of its waitlist); applying it waitlists the partner.
	ReviewWaitlist ReviewAction = "waitlist"
)

// Proposal is a tier review's proposal for one partner: from its tier at the review to To,
// with the scorecard behind it. Waitlist names the tier the partner is to be waitlisted for
// when the seats of the tier it is eligible for were full ("no seat").
type Proposal struct {
	PartnerID string       `json:"partner_id"`
	Geography string       `json:"geography"`
	From      Tier         `json:"from"`
	To        Tier         `json:"to"`
	Action    ReviewAction `json:"action"`
	Reason    string       `json:"reason"`
	Waitlist  Tier         `json:"waitlist,omitempty"`
	Scorecard Scorecard    `json:"scorecard"`
}

// ReviewRun: a quarter's tier review was run ("review.run", stream ReviewStream). Each run
// whose proposals differ from the previous one's is a new revision with its own id
// ("2026Q1-r2"); applying always applies the latest revision. CreditsPosition is the log
// position the credited revenue was read at.
type ReviewRun struct {
	ReviewID        string     `json:"review_id"`
	Quarter         Quarter    `json:"quarter"`
	Revision        int        `json:"revision"`
	On              Date       `json:"on"`
	CreditsPosition int64      `json:"credits_position"`
	Proposals       []Proposal `json:"proposals"`
}

// ProposalApplied: one proposal of a review was applied ("review.proposal_applied", stream
// ReviewStream), in the same atomic append as the partner's and the geography's events.
type ProposalApplied struct {
	ReviewID  string       `json:"review_id"`
	Quarter   Quarter      `json:"quarter"`
	PartnerID string       `json:"partner_id"`
	Action    ReviewAction `json:"action"`
	To        Tier         `json:"to"`
	On        Date         `json:"on"`
}

// ReviewState is a quarter's review stream folded: the latest revision and which of its
// proposals were applied.
type ReviewState struct {
	Latest  ReviewRun
	Applied map[string]ProposalApplied
}

// Exists reports whether the quarter was reviewed.
func (r ReviewState) Exists() bool { return r.Latest.ReviewID != "" }

// Proposal returns the latest revision's proposal for partnerID.
func (r ReviewState) Proposal(partnerID string) (Proposal, bool) {
	for _, p := range r.Latest.Proposals {
		if p.PartnerID == partnerID {
			return p, true
		}
	}
	return Proposal{}, false
}

// EvolveReview folds one review event.
func EvolveReview(r ReviewState, e Event) ReviewState {
	switch e := e.(type) {
	case ReviewRun:
		r.Latest, r.Applied = e, nil
	case ProposalApplied:
		if e.ReviewID == r.Latest.ReviewID {
			applied := make(map[string]ProposalApplied, len(r.Applied)+1)
			for k, v := range r.Applied {
				applied[k] = v
			}
			applied[e.PartnerID] = e
			r.Applied = applied
		}
	}
	return r
}

// Reviewee is one partner under review with its credited revenue in the quarter (in the
// currency of the policy's targets).
type Reviewee struct {
	Partner  PartnerState
	Credited Money
}

// reviewAim is what a review aims at for one partner before seats are counted: its
// scorecard, the action (promote, demote, keep or grandfathered) and the reason.
func reviewAim(p PartnerState, pol Policy, q Quarter, credited Money, today Date) (Scorecard, ReviewAction, string) {
	sc := ScorePartner(p, pol, q, credited)
	switch {
	case p.Grandfathered && today.Before(p.ReviewOn):
		return sc, ReviewGrandfathered, "grandfathered as " + string(p.Tier) + " until " + p.ReviewOn.String()
	case sc.Eligible.Rank() > p.Tier.Rank():
		return sc, ReviewPromote, "tier review " + q.String() + ": requirements and target met"
	case sc.Eligible.Rank() < p.Tier.Rank():
		return sc, ReviewDemote, "tier review " + q.String() + ": " + sc.Unmet[0]
	}
	return sc, ReviewKeep, "kept"
}

// ProposeReview proposes the quarter's tier changes (rule 6): each partner's scorecard
// under pol, promotions only into the seats free in its geography on today (geos; a seat
// held for the head of a waitlist is free only to that partner), demotions except for
// grandfathered partners before their review date. Seats are handed out demotions first
// (a demoted Platinum needs a Gold seat), then promotions in the order: the tier's waitlist
// (first come, first served), credited revenue (highest first), partner id. A promotion
// finding no seat in the tier it is eligible for goes to the highest tier below with a
// free seat, and is waitlisted for the tier it is eligible for; a demotion finding none
// goes further down (registered needs no seat). Seats released by this review's own
// demotions are not counted: they go to the waitlist offers of rule 4. Proposals are
// sorted by partner id.
func ProposeReview(q Quarter, pol Policy, reviewees []Reviewee, geos map[string]GeoState, today Date) []Proposal {
	out := make([]Proposal, len(reviewees))
	var demote, promote []int
	for i, r := range reviewees {
		p := r.Partner
		sc, action, reason := reviewAim(p, pol, q, r.Credited, today)
		out[i] = Proposal{PartnerID: p.ID, Geography: p.Geography, From: p.Tier, To: p.Tier, Action: action, Reason: reason, Scorecard: sc}
		switch action {
		case ReviewDemote:
			demote = append(demote, i)
		case ReviewPromote:
			promote = append(promote, i)
		}
	}
	books := map[string]*seatBook{}
	book := func(geo string) *seatBook {
		if books[geo] == nil {
			books[geo] = &seatBook{g: geos[geo], today: today, taken: map[Tier]int{}, offerTaken: map[Tier]bool{}}
		}
		return books[geo]
	}
	sort.SliceStable(demote, func(a, b int) bool { return out[demote[a]].PartnerID < out[demote[b]].PartnerID })
	for _, i := range demote {
		placeDemotion(&out[i], book(out[i].Geography))
	}
	sort.SliceStable(promote, func(a, b int) bool {
		return promotionBefore(out[promote[a]], out[promote[b]], geos)
	})
	for _, i := range promote {
		placePromotion(&out[i], book(out[i].Geography))
	}
	slices.SortFunc(out, func(a, b Proposal) int {
		switch {
		case a.PartnerID < b.PartnerID:
			return -1
		case a.PartnerID > b.PartnerID:
			return 1
		}
		return 0
	})
	return out
}

// promotionBefore orders two promotions for the seats: waitlist position, credited
// revenue, partner id.
func promotionBefore(a, b Proposal, geos map[string]GeoState) bool {
	wa, wb := waitRank(a, geos), waitRank(b, geos)
	switch {
	case wa != wb:
		return wa < wb
	case a.Scorecard.Credited.Amount != b.Scorecard.Credited.Amount:
		return a.Scorecard.Credited.Amount > b.Scorecard.Credited.Amount
	}
	return a.PartnerID < b.PartnerID
}

func waitRank(p Proposal, geos map[string]GeoState) int {
	if pos := geos[p.Geography].WaitlistPosition(p.Scorecard.Eligible, p.PartnerID); pos > 0 {
		return pos
	}
	return math.MaxInt
}

// placeDemotion gives a demotion the highest tier at or below the eligible one with a seat.
func placeDemotion(p *Proposal, b *seatBook) {
	want := p.Scorecard.Eligible
	for _, t := range tiersDown(want) {
		if b.take(t, p.PartnerID) {
			p.To = t
			break
		}
	}
	if p.To != want {
		p.Reason += fmt.Sprintf("; no %s seat free in %s, so %s", want, p.Geography, p.To)
	}
}

// placePromotion gives a promotion the highest tier above its own with a seat, up to the
// eligible one; without the eligible tier's seat it is waitlisted for it.
func placePromotion(p *Proposal, b *seatBook) {
	want := p.Scorecard.Eligible
	for _, t := range tiersDown(want) {
		if t.Rank() <= p.From.Rank() {
			break
		}
		if b.take(t, p.PartnerID) {
			p.To = t
			break
		}
	}
	if p.To == want {
		return
	}
	p.Waitlist = want
	note := fmt.Sprintf("eligible for %s; no seat: %s", want, b.whyFull(want, p.PartnerID))
	if p.To == p.From {
		p.Action, p.Reason = ReviewWaitlist, note
		return
	}
	p.Reason += "; " + note + "; promoted to " + string(p.To)
}

// tiersDown lists t and the tiers below it, highest first.
func tiersDown(t Tier) []Tier {
	var out []Tier
	for _, x := range []Tier{TierPlatinum, TierGold, TierRegistered} {
		if x.Rank() <= t.Rank() {
			out = append(out, x)
		}
	}
	return out
}

// seatBook counts the seats a review hands out in one geography.
type seatBook struct {
	g          GeoState
	today      Date
	taken      map[Tier]int
	offerTaken map[Tier]bool
}

// take reserves a seat of t for partnerID if one is free (registered and unlimited tiers
// always have one). An open offer holds one seat for its partner (rule 4).
func (b *seatBook) take(t Tier, partnerID string) bool {
	if t == TierRegistered || b.g.Free(t) < 0 {
		return true
	}
	avail := b.g.Free(t) - b.taken[t]
	o, offered := b.g.OfferOn(t, b.today)
	if offered && o.PartnerID != partnerID && !b.offerTaken[t] {
		avail--
	}
	if avail <= 0 {
		return false
	}
	b.taken[t]++
	if offered && o.PartnerID == partnerID {
		b.offerTaken[t] = true
	}
	return true
}

// whyFull says why t has no seat for partnerID.
func (b *seatBook) whyFull(t Tier, partnerID string) string {
	if o, ok := b.g.OfferOn(t, b.today); ok && o.PartnerID != partnerID && !b.offerTaken[t] && b.g.Free(t)-b.taken[t] > 0 {
		return fmt.Sprintf("geography %s's free %s seat is offered to partner %s until %s", b.g.Geography, t, o.PartnerID, o.Until)
	}
	return fmt.Sprintf("geography %s has all %d %s seats taken", b.g.Geography, b.g.Capacity[t], t)
}

// RunReview records a quarter's review with its proposals (computed by ProposeReview).
type RunReview struct {
	Quarter         Quarter
	CreditsPosition int64
	Proposals       []Proposal
}

// ReviewID names revision rev of quarter q's review: "2026Q1-r1".
func ReviewID(q Quarter, rev int) string { return fmt.Sprintf("%s-r%d", q, rev) }

// DecideRunReview records the review as a new revision, unless the latest revision has the
// same proposals: then nothing is appended and the latest one stands (running a review
// twice on the same facts gives the same review). A quarter that has not begun is refused
// (rule review.quarter_started).
func DecideRunReview(st ReviewState, c RunReview, today Date) ([]Event, error) {
	if err := CheckQuarter("quarter", c.Quarter); err != nil {
		return nil, err
	}
	if c.Quarter.Start().After(today) {
		return nil, Errorf(Unprocessable, "quarter", "review.quarter_started",
			"quarter %s has not begun (it starts on %s); a review scores a quarter that has", c.Quarter, c.Quarter.Start())
	}
	if st.Exists() && sameProposals(st.Latest.Proposals, c.Proposals) {
		return nil, nil
	}
	rev := st.Latest.Revision + 1
	return []Event{ReviewRun{ReviewID: ReviewID(c.Quarter, rev), Quarter: c.Quarter, Revision: rev, On: today,
		CreditsPosition: c.CreditsPosition, Proposals: c.Proposals}}, nil
}

// sameProposals compares two proposal lists as they are stored.
func sameProposals(a, b []Proposal) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// ApplyProposal applies the latest review's proposal for PartnerID.
type ApplyProposal struct {
	Quarter   Quarter
	PartnerID string
}

// DecideApplyProposal applies one proposal of the quarter's latest review (st) to the
// partner p and its geography's seats g: a promotion or demotion is a partner.tier_changed
// citing the review (with its seats taken and released), a kept tier a
// partner.tier_reviewed citing it, a "no seat" a waitlisting; every one ends with
// review.proposal_applied. Applying an applied proposal appends nothing. A proposal whose
// partner's tier changed since the review is refused (409 review.stale), and so is a
// change into a tier whose seats are no longer free (409 review.seats_changed).
func DecideApplyProposal(st ReviewState, p PartnerState, g GeoState, c ApplyProposal, today Date) ([]Event, error) {
	if !st.Exists() {
		return nil, Errorf(NotFound, "quarter", "review.exists", "quarter %s has not been reviewed; run POST /v1/reviews/%s first", c.Quarter, c.Quarter)
	}
	prop, ok := st.Proposal(c.PartnerID)
	if !ok {
		return nil, Errorf(NotFound, "partner", "review.proposal", "review %s has no proposal for partner %s", st.Latest.ReviewID, c.PartnerID)
	}
	if _, done := st.Applied[c.PartnerID]; done {
		return nil, nil
	}
	if p.Tier != prop.From {
		return nil, Errorf(Conflict, "partner", "review.stale",
			"partner %s is %s now; review %s proposed %s from %s: run the review again", p.ID, p.Tier, st.Latest.ReviewID, prop.Action, prop.From)
	}
	evs, err := applyEvents(p, g, prop, st.Latest.ReviewID, today)
	if err != nil {
		return nil, err
	}
	if prop.Waitlist != "" && g.WaitlistPosition(prop.Waitlist, p.ID) == 0 {
		evs = append(evs, SeatWaitlisted{Geography: p.Geography, Tier: prop.Waitlist, PartnerID: p.ID,
			Position: len(g.Waitlist[prop.Waitlist]) + 1, On: today})
	}
	return append(evs, ProposalApplied{ReviewID: st.Latest.ReviewID, Quarter: st.Latest.Quarter, PartnerID: p.ID,
		Action: prop.Action, To: prop.To, On: today}), nil
}

// applyEvents is the partner's and the geography's events of applying prop of review id:
// the tier change citing the review with its seats, or the kept tier recorded.
func applyEvents(p PartnerState, g GeoState, prop Proposal, id string, today Date) ([]Event, error) {
	if prop.To == prop.From {
		return []Event{TierReviewed{PartnerID: p.ID, Tier: p.Tier, Outcome: prop.Reason, On: today, Scorecard: prop.Scorecard, ReviewID: id}}, nil
	}
	if prop.To != TierRegistered && (g.Free(prop.To) == 0 || heldForOther(g, prop.To, p.ID, today)) {
		return nil, Errorf(Conflict, "partner", "review.seats_changed",
			"review %s proposed %s for partner %s, but geography %s has no free %s seat now: run the review again", id, prop.To, p.ID, p.Geography, prop.To)
	}
	sc := prop.Scorecard
	evs, err := moveTier(p, g, prop.To, prop.Reason, today, true, &sc)
	if err != nil {
		return nil, err
	}
	for i, e := range evs {
		if tc, ok := e.(TierChanged); ok {
			tc.ReviewID = id
			evs[i] = tc
		}
	}
	return evs, nil
}

// heldForOther reports whether t's only free seat is held for another partner (rule 4).
func heldForOther(g GeoState, t Tier, partnerID string, today Date) bool {
	o, ok := g.OfferOn(t, today)
	return ok && o.PartnerID != partnerID && g.Free(t) == 1
}

// EventType implementations.
func (ReviewRun) EventType() string       { return "review.run" }
func (ProposalApplied) EventType() string { return "review.proposal_applied" }
