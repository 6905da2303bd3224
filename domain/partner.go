package domain

import (
	"fmt"
	"time"
)

// PartnerState is one partner folded from its stream. The zero value is "not enrolled".
type PartnerState struct {
	ID              string
	Name            string
	Kind            PartnerKind
	Geography       string
	Tier            Tier
	EnrolledOn      Date
	Grandfathered   bool
	ReviewOn        Date
	Certifications  []EngineerCertified
	Segments        []Segment
	QuarterlyTarget Money
	// TierHistory is every tier the partner held, with the date it took effect, oldest first.
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
			EnrolledOn: e.EnrolledOn, TierHistory: []TierSpan{{e.Tier, e.EnrolledOn}}}
	case PartnerGrandfathered:
		p = PartnerState{ID: e.PartnerID, Name: e.Name, Kind: e.Kind, Geography: e.Geography, Tier: e.Tier,
			EnrolledOn: e.EnrolledOn, Grandfathered: true, ReviewOn: e.ReviewOn,
			TierHistory: []TierSpan{{e.Tier, e.EnrolledOn}}}
	case EngineerCertified:
		p.Certifications = append(append([]EngineerCertified(nil), p.Certifications...), e)
	case CommitmentMade:
		p.Segments = append([]Segment(nil), e.Segments...)
		p.QuarterlyTarget = e.QuarterlyTarget
	case TierChanged:
		p.Tier = e.To
		p.TierHistory = append(append([]TierSpan(nil), p.TierHistory...), TierSpan{e.To, e.EffectiveOn})
		if e.Review {
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
	case SeatReleased:
		g.Holders = cp(g.Holders)
		g.Holders[e.Tier] = remove(g.Holders[e.Tier], e.PartnerID)
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
	// Enroll a partner at tier registered.
	Enroll struct {
		PartnerID, Name string
		Kind            PartnerKind
		Geography       string
	}
	// Grandfather an existing business partner as Gold, exempt from review until ReviewOn
	// (zero: the end of the next quarter).
	Grandfather struct {
		PartnerID, Name string
		Kind            PartnerKind
		Geography       string
		ReviewOn        Date
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
	// ChangeTier moves a partner to Tier, checked against requirements and seats.
	ChangeTier struct {
		PartnerID string
		Tier      Tier
		Reason    string
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
		if err := checkNewPartner(p, c.PartnerID, c.Name, c.Kind, c.Geography); err != nil {
			return nil, err
		}
		return []Event{PartnerEnrolled{PartnerID: c.PartnerID, Name: c.Name, Kind: c.Kind, Geography: c.Geography,
			Tier: TierRegistered, EnrolledOn: today}}, nil
	case Grandfather:
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
		// Grandfathering is a promise to existing partners: it takes a Gold seat even
		// beyond capacity (the seats then count as full for newcomers).
		return []Event{
			PartnerGrandfathered{PartnerID: c.PartnerID, Name: c.Name, Kind: c.Kind, Geography: c.Geography,
				Tier: TierGold, EnrolledOn: today, ReviewOn: review},
			SeatTaken{Geography: c.Geography, Tier: TierGold, PartnerID: c.PartnerID, On: today},
		}, nil
	case Certify:
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
	case Commit:
		if err := mustExist(p, c.PartnerID); err != nil {
			return nil, err
		}
		segs, err := checkSegments("segments", c.Segments)
		if err != nil {
			return nil, err
		}
		if !ValidCurrency(c.QuarterlyTarget.Currency) {
			return nil, invalidf("currency", "currency %s is not a supported ISO 4217 code", quote(c.QuarterlyTarget.Currency))
		}
		if err := CheckAmount("quarterly_target_minor", c.QuarterlyTarget.Amount, 1); err != nil {
			return nil, err
		}
		return []Event{CommitmentMade{PartnerID: c.PartnerID, Segments: segs, QuarterlyTarget: c.QuarterlyTarget, On: today}}, nil
	case ChangeTier:
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
		return moveTier(p, g, c.Tier, c.Reason, today, false, nil)
	case ReviewTier:
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
	case SetSeats:
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
	return nil, invalidf("command", "unknown partner command %T", cmd)
}

func moveTier(p PartnerState, g GeoState, to Tier, reason string, today Date, review bool, sc *Scorecard) ([]Event, error) {
	var evs []Event
	if to != TierRegistered && g.Free(to) == 0 {
		pos := g.WaitlistPosition(to, p.ID)
		if pos == 0 {
			pos = len(g.Waitlist[to]) + 1
			evs = append(evs, SeatWaitlisted{Geography: p.Geography, Tier: to, PartnerID: p.ID, Position: pos, On: today})
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
