package domain

import (
	"fmt"
	"maps"
	"time"
)

// PartnerState is one partner folded from its stream. The zero value is "not enrolled".
type PartnerState struct {
	ID         string
	Name       string
	Kind       PartnerKind
	Geography  string
	Tier       Tier
	EnrolledOn Date
	// JoinedOn is the date the partner joined the program, when it was enrolled with its
	// history (zero: not known; the program starts at EnrolledOn).
	JoinedOn        Date
	Grandfathered   bool
	ReviewOn        Date
	Certifications  []EngineerCertified
	Segments        []Segment
	QuarterlyTarget Money
	// TierHistory is every tier the partner held, with the date it took effect, oldest first:
	// the tiers it held before its enrolment (given at enrolment), then its enrolment tier.
	TierHistory []TierSpan
}

// TierSpan is a tier held from a date.
type TierSpan struct {
	Tier Tier
	From Date
}

// Exists reports whether the partner is enrolled.
func (p PartnerState) Exists() bool { return p.ID != "" }

// TierOn returns the tier the partner held on d (registered before its first span).
func (p PartnerState) TierOn(d Date) Tier {
	t := TierRegistered
	for _, s := range p.TierHistory {
		if !s.From.After(d) {
			t = s.Tier
		}
	}
	return t
}

// enrolSpans returns the tier spans of an enrolment: the past tiers, then tier from on.
func enrolSpans(past []PastTier, tier Tier, on Date) []TierSpan {
	out := make([]TierSpan, 0, len(past)+1)
	for _, h := range past {
		out = append(out, TierSpan(h))
	}
	return append(out, TierSpan{tier, on})
}

// HistoryKnown reports whether the partner was enrolled with its history before
// enrolment (a joined date or past tiers): then a date before its first span is
// registered tier, never extended backwards (rule 5).
func (p PartnerState) HistoryKnown() bool {
	return !p.JoinedOn.IsZero() || len(p.TierHistory) > 1
}

// CertifiedEngineers returns the number of distinct certified engineers.
func (p PartnerState) CertifiedEngineers() int {
	seen := map[string]bool{}
	for _, c := range p.Certifications {
		seen[c.Engineer] = true
	}
	return len(seen)
}

// EvolvePartner folds one partner event.
func EvolvePartner(p PartnerState, e Event) PartnerState {
	switch e := e.(type) {
	case PartnerEnrolled:
		p = PartnerState{ID: e.PartnerID, Name: e.Name, Kind: e.Kind, Geography: e.Geography, Tier: e.Tier,
			EnrolledOn: e.EnrolledOn, JoinedOn: e.JoinedOn, TierHistory: enrolSpans(e.TierHistory, e.Tier, e.EnrolledOn)}
	case PartnerGrandfathered:
		p = PartnerState{ID: e.PartnerID, Name: e.Name, Kind: e.Kind, Geography: e.Geography, Tier: e.Tier,
			EnrolledOn: e.EnrolledOn, JoinedOn: e.JoinedOn, Grandfathered: true, ReviewOn: e.ReviewOn,
			TierHistory: enrolSpans(e.TierHistory, e.Tier, e.EnrolledOn)}
	case EngineerCertified:
		p.Certifications = append(append([]EngineerCertified(nil), p.Certifications...), e)
	case CommitmentMade:
		p.Segments = append([]Segment(nil), e.Segments...)
		p.QuarterlyTarget = e.QuarterlyTarget
	case TierChanged:
		p.Tier = e.To
		p.TierHistory = append(append([]TierSpan(nil), p.TierHistory...), TierSpan{e.To, e.EffectiveOn})
		if e.Review || e.Override {
			p.Grandfathered = false
		}
	case TierReviewed:
		if !p.ReviewOn.After(e.On) {
			p.Grandfathered = false
		}
	}
	return p
}

// GeoState is a geography's seat capacity, seat holders and waitlists, folded from its stream.
type GeoState struct {
	Geography string
	// Capacity per tier; a tier missing from the map (seats never set) is unlimited.
	Capacity map[Tier]int
	Holders  map[Tier][]string
	Waitlist map[Tier][]string
	// Offers holds, per tier, the freed seat offered to the head of its waitlist (rule 4).
	Offers map[Tier]SeatOffer `json:",omitempty"`
}

// SeatOfferDays is how long a freed Platinum or Gold seat is held for the head of that
// tier's waitlist (rule 4): through the release day plus SeatOfferDays, only that partner
// may take it; after that, whoever asks first.
const SeatOfferDays = 14

// SeatOffer is a freed seat held for the head of the waitlist through Until.
type SeatOffer struct {
	PartnerID string
	Until     Date
}

// OfferOn returns the seat offer of tier t still open on d, if any.
func (g GeoState) OfferOn(t Tier, d Date) (SeatOffer, bool) {
	o, ok := g.Offers[t]
	if !ok || d.After(o.Until) {
		return SeatOffer{}, false
	}
	return o, true
}

// EvolveGeo folds one geography event.
func EvolveGeo(g GeoState, e Event) GeoState {
	cp := func(m map[Tier][]string) map[Tier][]string {
		out := make(map[Tier][]string, len(m)+1)
		for k, v := range m {
			out[k] = append([]string(nil), v...)
		}
		return out
	}
	switch e := e.(type) {
	case SeatsSet:
		g.Geography = e.Geography
		g.Capacity = map[Tier]int{TierPlatinum: e.Platinum, TierGold: e.Gold}
	case SeatTaken:
		g.Geography = e.Geography
		g.Holders, g.Waitlist = cp(g.Holders), cp(g.Waitlist)
		g.Holders[e.Tier] = append(g.Holders[e.Tier], e.PartnerID)
		g.Waitlist[e.Tier] = remove(g.Waitlist[e.Tier], e.PartnerID)
		// The offer ends when its partner takes the seat, or when no seat is left to hold.
		if o, ok := g.Offers[e.Tier]; ok && (o.PartnerID == e.PartnerID || g.Free(e.Tier) == 0) {
			g.Offers = maps.Clone(g.Offers)
			delete(g.Offers, e.Tier)
		}
	case SeatReleased:
		g.Holders = cp(g.Holders)
		g.Holders[e.Tier] = remove(g.Holders[e.Tier], e.PartnerID)
		// A freed seat is offered to the head of the waitlist first (rule 4).
		if _, open := g.OfferOn(e.Tier, e.On); !open && len(g.Waitlist[e.Tier]) > 0 && g.Free(e.Tier) > 0 {
			g.Offers = maps.Clone(g.Offers)
			if g.Offers == nil {
				g.Offers = map[Tier]SeatOffer{}
			}
			g.Offers[e.Tier] = SeatOffer{PartnerID: g.Waitlist[e.Tier][0], Until: e.On.AddDays(SeatOfferDays)}
		}
	case SeatOfferLapsed:
		if o, ok := g.Offers[e.Tier]; ok && o.PartnerID == e.PartnerID && o.Until == e.Until {
			g.Offers = maps.Clone(g.Offers)
			delete(g.Offers, e.Tier)
		}
	case SeatWaitlisted:
		g.Geography = e.Geography
		g.Waitlist = cp(g.Waitlist)
		if indexOf(g.Waitlist[e.Tier], e.PartnerID) < 0 {
			g.Waitlist[e.Tier] = append(g.Waitlist[e.Tier], e.PartnerID)
		}
	}
	return g
}

// Free returns the free seats of t (-1 for unlimited).
func (g GeoState) Free(t Tier) int {
	c, ok := g.Capacity[t]
	if !ok {
		return -1
	}
	if f := c - len(g.Holders[t]); f > 0 {
		return f
	}
	return 0
}

// WaitlistPosition returns the partner's 1-based position on t's waitlist, or 0.
func (g GeoState) WaitlistPosition(t Tier, partnerID string) int {
	return indexOf(g.Waitlist[t], partnerID) + 1
}

func remove(s []string, v string) []string {
	out := s[:0:0]
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// Partner commands.
type (
	// Enroll a partner at tier registered. JoinedOn (optional) is the date it joined the
	// program and TierHistory (optional) the tiers it held before today, oldest first.
	Enroll struct {
		PartnerID, Name string
		Kind            PartnerKind
		Geography       string
		JoinedOn        Date
		TierHistory     []PastTier
	}
	// Grandfather an existing business partner as Gold, exempt from review until ReviewOn
	// (zero: the end of the next quarter). JoinedOn and TierHistory: as in Enroll.
	Grandfather struct {
		PartnerID, Name string
		Kind            PartnerKind
		Geography       string
		ReviewOn        Date
		JoinedOn        Date
		TierHistory     []PastTier
	}
	// Adopt enrolls a partner of a program adopted as it stands (the adoption import) at
	// the tier it holds today, gold or platinum, without the requirement and seat checks
	// of a tier change: the program gave it that tier before dealcredit recorded it. It
	// takes a seat of its tier even beyond capacity, as grandfathering does. JoinedOn and
	// TierHistory: as in Enroll. A registered partner is enrolled with Enroll, a
	// grandfathered one with Grandfather.
	Adopt struct {
		PartnerID, Name string
		Kind            PartnerKind
		Geography       string
		Tier            Tier
		JoinedOn        Date
		TierHistory     []PastTier
	}
	// Certify an engineer on a segment.
	Certify struct {
		PartnerID, Engineer string
		Segment             Segment
		CertifiedOn         Date
	}
	// Commit to segments and a quarterly target.
	Commit struct {
		PartnerID       string
		Segments        []Segment
		QuarterlyTarget Money
	}
	// ChangeTier moves a partner to Tier, checked against requirements and seats. Override
	// (an admin's decision; the caller checks the role) lets a grandfathered partner be
	// demoted before its review date (rule 5); Reason then says why.
	ChangeTier struct {
		PartnerID string
		Tier      Tier
		Reason    string
		Override  bool
	}
	// ReviewTier runs the quarterly review with the partner's credited revenue in Quarter.
	ReviewTier struct {
		PartnerID string
		Quarter   Quarter
		Credited  Money
	}
	// SetSeats sets a geography's seat capacity.
	SetSeats struct {
		Geography      string
		Platinum, Gold int
	}
)

// DecidePartner decides a partner command against the partner, its geography's seats and
// the policy in force today. Events go to PartnerStream and GeographyStream (see StreamOf);
// append both atomically with their expected versions so that two partners cannot take the
// last seat. One exception to "events or error": a tier change into a full tier returns a
// SeatWaitlisted event AND an Unprocessable error (rule "seats.full"): append the event,
// then report the error with the waitlist position.
func DecidePartner(p PartnerState, g GeoState, pol Policy, cmd any, now time.Time) ([]Event, error) {
	today := DateOf(now)
	switch c := cmd.(type) {
	case Enroll:
		return decideEnroll(p, g, pol, c, today)
	case Grandfather:
		return decideGrandfather(p, g, pol, c, today)
	case Adopt:
		return decideAdopt(p, c, today)
	case Certify:
		return decideCertify(p, g, pol, c, today)
	case Commit:
		return decideCommit(p, g, pol, c, today)
	case ChangeTier:
		return decideChangeTier(p, g, pol, c, today)
	case ReviewTier:
		return decideReviewTier(p, g, pol, c, today)
	case SetSeats:
		return decideSetSeats(p, g, pol, c, today)
	}
	return nil, invalidf("command", "unknown partner command %T", cmd)
}

// decideEnroll decides Enroll (see DecidePartner).
func decideEnroll(p PartnerState, g GeoState, pol Policy, c Enroll, today Date) ([]Event, error) {
	if err := checkNewPartner(p, c.PartnerID, c.Name, c.Kind, c.Geography); err != nil {
		return nil, err
	}
	joined, err := checkPartnerHistory(c.JoinedOn, c.TierHistory, today)
	if err != nil {
		return nil, err
	}
	return []Event{PartnerEnrolled{PartnerID: c.PartnerID, Name: c.Name, Kind: c.Kind, Geography: c.Geography,
		Tier: TierRegistered, EnrolledOn: today, JoinedOn: joined, TierHistory: c.TierHistory}}, nil
}

// decideGrandfather decides Grandfather (see DecidePartner).
func decideGrandfather(p PartnerState, g GeoState, pol Policy, c Grandfather, today Date) ([]Event, error) {
	if err := checkNewPartner(p, c.PartnerID, c.Name, c.Kind, c.Geography); err != nil {
		return nil, err
	}
	review := c.ReviewOn
	if review.IsZero() {
		review = today.Quarter().Next().End()
	}
	if review.Before(today) {
		return nil, invalidf("review_on", "review_on %s is in the past", review)
	}
	if err := CheckDate("review_on", review); err != nil {
		return nil, err
	}
	joined, err := checkPartnerHistory(c.JoinedOn, c.TierHistory, today)
	if err != nil {
		return nil, err
	}
	// Grandfathering is a promise to existing partners: it takes a Gold seat even
	// beyond capacity (the seats then count as full for newcomers).
	return []Event{
		PartnerGrandfathered{PartnerID: c.PartnerID, Name: c.Name, Kind: c.Kind, Geography: c.Geography,
			Tier: TierGold, EnrolledOn: today, ReviewOn: review, JoinedOn: joined, TierHistory: c.TierHistory},
		SeatTaken{Geography: c.Geography, Tier: TierGold, PartnerID: c.PartnerID, On: today},
	}, nil
}

// decideAdopt decides Adopt (see DecidePartner).
func decideAdopt(p PartnerState, c Adopt, today Date) ([]Event, error) {
	if err := checkNewPartner(p, c.PartnerID, c.Name, c.Kind, c.Geography); err != nil {
		return nil, err
	}
	if c.Tier != TierGold && c.Tier != TierPlatinum {
		return nil, invalidf("tier", "tier %q: an adopted partner holds gold or platinum (enroll a registered partner, grandfather an existing one)", c.Tier)
	}
	joined, err := checkPartnerHistory(c.JoinedOn, c.TierHistory, today)
	if err != nil {
		return nil, err
	}
	return []Event{
		PartnerEnrolled{PartnerID: c.PartnerID, Name: c.Name, Kind: c.Kind, Geography: c.Geography,
			Tier: c.Tier, EnrolledOn: today, JoinedOn: joined, TierHistory: c.TierHistory},
		SeatTaken{Geography: c.Geography, Tier: c.Tier, PartnerID: c.PartnerID, On: today},
	}, nil
}

// decideCertify decides Certify (see DecidePartner).
func decideCertify(p PartnerState, g GeoState, pol Policy, c Certify, today Date) ([]Event, error) {
	if err := mustExist(p, c.PartnerID); err != nil {
		return nil, err
	}
	if err := CheckRequiredText("engineer", c.Engineer, MaxNameLen); err != nil {
		return nil, err
	}
	if err := CheckDate("certified_on", c.CertifiedOn); err != nil {
		return nil, err
	}
	switch {
	case !c.Segment.Software():
		return nil, invalidf("segment", "segment %q is not a software segment", c.Segment)
	case c.CertifiedOn.IsZero():
		return nil, invalidf("certified_on", "certified_on is required")
	case c.CertifiedOn.After(today):
		return nil, invalidf("certified_on", "certified_on %s is in the future", c.CertifiedOn)
	}
	return []Event{EngineerCertified(c)}, nil
}

// decideCommit decides Commit (see DecidePartner).
func decideCommit(p PartnerState, g GeoState, pol Policy, c Commit, today Date) ([]Event, error) {
	if err := mustExist(p, c.PartnerID); err != nil {
		return nil, err
	}
	segs, err := checkSegments("segments", c.Segments)
	if err != nil {
		return nil, err
	}
	if !ValidCurrency(c.QuarterlyTarget.Currency) {
		return nil, invalidf("currency", "currency %s is not a supported ISO 4217 code", Quote(c.QuarterlyTarget.Currency))
	}
	if err := CheckAmount("quarterly_target_minor", c.QuarterlyTarget.Amount, 1); err != nil {
		return nil, err
	}
	return []Event{CommitmentMade{PartnerID: c.PartnerID, Segments: segs, QuarterlyTarget: c.QuarterlyTarget, On: today}}, nil
}

// decideChangeTier decides ChangeTier (see DecidePartner).
func decideChangeTier(p PartnerState, g GeoState, pol Policy, c ChangeTier, today Date) ([]Event, error) {
	if err := mustExist(p, c.PartnerID); err != nil {
		return nil, err
	}
	if !c.Tier.Valid() {
		return nil, invalidf("tier", "tier %q must be registered, gold or platinum", c.Tier)
	}
	if err := CheckRequiredText("reason", c.Reason, MaxReasonLen); err != nil {
		return nil, err
	}
	if c.Tier == p.Tier {
		return nil, Errorf(Conflict, "tier", "tier.unchanged", "partner %s is already %s", p.ID, p.Tier)
	}
	if c.Tier.Rank() > p.Tier.Rank() {
		if unmet := TierUnmet(p, c.Tier, pol); len(unmet) > 0 {
			return nil, Errorf(Unprocessable, "tier", unmet[0].Rule, "partner %s: %s", p.ID, unmet[0].Message)
		}
	}
	protected := p.Grandfathered && today.Before(p.ReviewOn) && c.Tier.Rank() < p.Tier.Rank()
	switch {
	case protected && !c.Override:
		return nil, Errorf(Unprocessable, "tier", "tier.grandfathered",
			"partner %s is grandfathered as %s until its review on %s; only an admin override with a reason may demote it before then",
			p.ID, p.Tier, p.ReviewOn)
	case c.Override && !protected:
		return nil, invalidf("override", "override applies only to demoting a grandfathered partner before its review date")
	}
	evs, err := moveTier(p, g, c.Tier, c.Reason, today, false, nil)
	for i, e := range evs {
		if tc, ok := e.(TierChanged); ok && c.Override {
			tc.Override = true
			evs[i] = tc
		}
	}
	return evs, err
}

// decideReviewTier decides ReviewTier (see DecidePartner).
func decideReviewTier(p PartnerState, g GeoState, pol Policy, c ReviewTier, today Date) ([]Event, error) {
	if err := mustExist(p, c.PartnerID); err != nil {
		return nil, err
	}
	if c.Quarter.IsZero() {
		return nil, invalidf("quarter", "quarter is required")
	}
	sc := ScorePartner(p, pol, c.Quarter, c.Credited)
	if p.Grandfathered && today.Before(p.ReviewOn) {
		return []Event{TierReviewed{PartnerID: p.ID, Tier: p.Tier, On: today, Scorecard: sc,
			Outcome: "grandfathered as gold until " + p.ReviewOn.String()}}, nil
	}
	switch {
	case sc.Eligible.Rank() > p.Tier.Rank():
		evs, err := moveTier(p, g, sc.Eligible, "tier review "+c.Quarter.String()+": requirements and target met", today, true, &sc)
		if err != nil {
			// Seats full: the review keeps the tier and records the waitlist.
			return append([]Event{TierReviewed{PartnerID: p.ID, Tier: p.Tier, On: today, Scorecard: sc,
				Outcome: "eligible for " + string(sc.Eligible) + "; " + err.Error()}}, evs...), nil
		}
		return evs, nil
	case sc.Eligible.Rank() < p.Tier.Rank():
		return moveTier(p, g, sc.Eligible, "tier review "+c.Quarter.String()+": "+sc.Unmet[0], today, true, &sc)
	}
	return []Event{TierReviewed{PartnerID: p.ID, Tier: p.Tier, On: today, Scorecard: sc, Outcome: "kept"}}, nil
}

// decideSetSeats decides SetSeats (see DecidePartner).
func decideSetSeats(p PartnerState, g GeoState, pol Policy, c SetSeats, today Date) ([]Event, error) {
	if !validID(c.Geography) {
		return nil, invalidf("geography", "geography %q is not a valid id", c.Geography)
	}
	if err := CheckRange("platinum", int64(c.Platinum), 0, MaxSeats); err != nil {
		return nil, err
	}
	if err := CheckRange("gold", int64(c.Gold), 0, MaxSeats); err != nil {
		return nil, err
	}
	return []Event{SeatsSet{Geography: c.Geography, Platinum: c.Platinum, Gold: c.Gold, On: today}}, nil
}

func moveTier(p PartnerState, g GeoState, to Tier, reason string, today Date, review bool, sc *Scorecard) ([]Event, error) {
	var evs []Event
	offer, offered := g.OfferOn(to, today)
	// An open offer holds one free seat for its partner (rule 4).
	held := offered && offer.PartnerID != p.ID && g.Free(to) == 1
	if to != TierRegistered && (g.Free(to) == 0 || held) {
		pos := g.WaitlistPosition(to, p.ID)
		if pos == 0 {
			pos = len(g.Waitlist[to]) + 1
			evs = append(evs, SeatWaitlisted{Geography: p.Geography, Tier: to, PartnerID: p.ID, Position: pos, On: today})
		}
		if held {
			return evs, Errorf(Unprocessable, "tier", "seats.offered",
				"geography %s's free %s seat is offered to partner %s, head of the waitlist, until %s; partner %s is waitlisted at position %d",
				p.Geography, to, offer.PartnerID, offer.Until, p.ID, pos)
		}
		return evs, Errorf(Unprocessable, "tier", "seats.full",
			"geography %s has all %d %s seats taken; partner %s is waitlisted at position %d",
			p.Geography, g.Capacity[to], to, p.ID, pos)
	}
	evs = append(evs, TierChanged{PartnerID: p.ID, From: p.Tier, To: to, Reason: reason, EffectiveOn: today, Review: review, Scorecard: sc})
	if p.Tier != TierRegistered && indexOf(g.Holders[p.Tier], p.ID) >= 0 {
		evs = append(evs, SeatReleased{Geography: p.Geography, Tier: p.Tier, PartnerID: p.ID, On: today})
	}
	if to != TierRegistered {
		evs = append(evs, SeatTaken{Geography: p.Geography, Tier: to, PartnerID: p.ID, On: today})
	}
	return evs, nil
}

// checkPartnerHistory validates a partner's history before its enrolment today: joined
// and every past tier's date in the accepted window and before today, the tiers valid
// and strictly ordered by date, none before joined. It returns the joined date (the
// first past tier's date when joined is zero).
func checkPartnerHistory(joined Date, past []PastTier, today Date) (Date, error) {
	if err := CheckDate("joined_on", joined); err != nil {
		return Date{}, err
	}
	if joined.After(today) {
		return Date{}, invalidf("joined_on", "joined_on %s is in the future", joined)
	}
	if len(past) > MaxTierHistory {
		return Date{}, invalidf("tier_history", "tier_history may list at most %d tiers", MaxTierHistory)
	}
	for i, h := range past {
		field := fmt.Sprintf("tier_history[%d]", i)
		switch {
		case !h.Tier.Valid():
			return Date{}, invalidf(field+".tier", "%s.tier %q must be registered, gold or platinum", field, h.Tier)
		case h.From.IsZero():
			return Date{}, invalidf(field+".from", "%s.from is required", field)
		}
		if err := CheckDate(field+".from", h.From); err != nil {
			return Date{}, err
		}
		switch {
		case !h.From.Before(today):
			return Date{}, invalidf(field+".from", "%s.from %s must be before the enrolment date %s", field, h.From, today)
		case h.From.Before(joined):
			return Date{}, invalidf(field+".from", "%s.from %s is before joined_on %s", field, h.From, joined)
		case i > 0 && !h.From.After(past[i-1].From):
			return Date{}, invalidf(field+".from", "%s.from %s must be after tier_history[%d].from %s", field, h.From, i-1, past[i-1].From)
		}
	}
	if joined.IsZero() && len(past) > 0 {
		joined = past[0].From
	}
	return joined, nil
}

func checkNewPartner(p PartnerState, id, name string, kind PartnerKind, geo string) error {
	switch {
	case !validID(id):
		return invalidf("id", "partner id %q must be 1-64 characters of a-z, 0-9, '_' or '-'", id)
	case p.Exists():
		return Errorf(Conflict, "id", "partner.unique", "partner %s is already enrolled", id)
	case !kind.Valid():
		return invalidf("kind", "kind %q must be var, si or oem", kind)
	case !validID(geo):
		return invalidf("geography", "geography %q is not a valid id", geo)
	}
	return CheckRequiredText("name", name, MaxNameLen)
}

func mustExist(p PartnerState, id string) error {
	if !p.Exists() {
		return Errorf(NotFound, "partner_id", "partner.exists", "partner %s is not enrolled", id)
	}
	return nil
}

// checkSegments validates a non-empty list of distinct software segments and returns it in
// canonical order.
func checkSegments(field string, segs []Segment) ([]Segment, error) {
	if len(segs) == 0 {
		return nil, invalidf(field, "%s needs at least one software segment", field)
	}
	seen := map[Segment]bool{}
	for i, s := range segs {
		if !s.Software() {
			return nil, invalidf(fmt.Sprintf("%s[%d]", field, i), "%s[%d] %q is not a software segment (client_management, server_management, asset_management)", field, i, s)
		}
		if seen[s] {
			return nil, invalidf(fmt.Sprintf("%s[%d]", field, i), "%s[%d] %q appears twice", field, i, s)
		}
		seen[s] = true
	}
	out := make([]Segment, 0, len(segs))
	for _, s := range SoftwareSegments {
		if seen[s] {
			out = append(out, s)
		}
	}
	return out, nil
}

// Unmet is one tier requirement a partner does not meet.
type Unmet struct {
	Rule    string
	Message string
}

// TierUnmet returns the requirements of tier t the partner does not meet under pol, in a
// fixed order: certified engineers, committed segments, quarterly target. Registered has none.
func TierUnmet(p PartnerState, t Tier, pol Policy) []Unmet {
	var need, segs int
	switch t {
	case TierPlatinum:
		need, segs = 2, 3
	case TierGold:
		need, segs = 1, 1
	default:
		return nil
	}
	var out []Unmet
	if n := p.CertifiedEngineers(); n < need {
		out = append(out, Unmet{"tier." + string(t) + ".certified_engineers",
			fmt.Sprintf("%s tier needs at least %d certified engineer(s); has %d", t, need, n)})
	}
	if len(p.Segments) < segs {
		what := "all three software segments"
		if segs == 1 {
			what = "one software segment"
		}
		out = append(out, Unmet{"tier." + string(t) + ".segments",
			fmt.Sprintf("%s tier needs a commitment to %s; has %d", t, what, len(p.Segments))})
	}
	min := pol.MinTarget(t)
	if p.QuarterlyTarget.Currency != min.Currency || p.QuarterlyTarget.Amount < min.Amount {
		out = append(out, Unmet{"tier." + string(t) + ".target",
			fmt.Sprintf("%s tier needs a quarterly target of at least %s; has %s", t, min.Major(), majorOrNone(p.QuarterlyTarget))})
	}
	return out
}

// Scorecard explains a tier review: what the partner has against each tier's requirements.
type Scorecard struct {
	Quarter            Quarter   `json:"quarter"`
	Tier               Tier      `json:"tier"`
	CertifiedEngineers int       `json:"certified_engineers"`
	Segments           []Segment `json:"segments"`
	QuarterlyTarget    Money     `json:"quarterly_target"`
	Credited           Money     `json:"credited"`
	PlatinumMinTarget  Money     `json:"platinum_min_target"`
	GoldMinTarget      Money     `json:"gold_min_target"`
	Eligible           Tier      `json:"eligible"`
	Unmet              []string  `json:"unmet,omitempty"`
}

// ScorePartner computes the review scorecard: the partner is eligible for the highest tier
// whose requirements it meets AND whose minimum target its credited revenue in the quarter
// reached. Unmet lists, for the tier above the eligible one (or the current tier when
// demoted), what is missing.
func ScorePartner(p PartnerState, pol Policy, q Quarter, credited Money) Scorecard {
	return scorePartner(p, pol, q, credited, func(t Tier) []Unmet { return TierUnmet(p, t, pol) })
}

// scorePartner is ScorePartner with the tier requirements the partner misses (which do
// not depend on the quarter or the credited revenue) given by tierUnmet.
func scorePartner(p PartnerState, pol Policy, q Quarter, credited Money, tierUnmet func(Tier) []Unmet) Scorecard {
	sc := Scorecard{Quarter: q, Tier: p.Tier, CertifiedEngineers: p.CertifiedEngineers(),
		Segments: append([]Segment{}, p.Segments...), QuarterlyTarget: p.QuarterlyTarget, Credited: credited,
		PlatinumMinTarget: pol.PlatinumMinTarget, GoldMinTarget: pol.GoldMinTarget, Eligible: TierRegistered}
	unmet := map[Tier][]string{}
	for _, t := range []Tier{TierPlatinum, TierGold} {
		for _, u := range tierUnmet(t) {
			unmet[t] = append(unmet[t], u.Message)
		}
		min := pol.MinTarget(t)
		if credited.Currency != min.Currency || credited.Amount < min.Amount {
			unmet[t] = append(unmet[t], fmt.Sprintf("%s tier needs credited revenue of at least %s in %s; has %s", t, min.Major(), q, majorOrNone(credited)))
		}
		if len(unmet[t]) == 0 && sc.Eligible == TierRegistered {
			sc.Eligible = t
		}
	}
	switch {
	case sc.Eligible.Rank() < p.Tier.Rank():
		sc.Unmet = unmet[p.Tier]
	case sc.Eligible == TierGold:
		sc.Unmet = unmet[TierPlatinum]
	case sc.Eligible == TierRegistered:
		sc.Unmet = unmet[TierGold]
	}
	return sc
}
