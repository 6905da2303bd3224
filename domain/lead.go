package domain

import (
	"fmt"
	"sort"
	"time"
)

// LeadState is one lead folded from its stream.
type LeadState struct {
	LeadCreated
	Offered    []string // partners offered so far, in order
	Current    *LeadOffered
	AcceptedBy string
	Unassigned bool
}

// EvolveLead folds one lead event.
func EvolveLead(l LeadState, e Event) LeadState {
	switch e := e.(type) {
	case LeadCreated:
		l = LeadState{LeadCreated: e}
	case LeadOffered:
		l.Offered = append(append([]string(nil), l.Offered...), e.PartnerID)
		o := e
		l.Current = &o
	case LeadAccepted:
		l.AcceptedBy, l.Current = e.PartnerID, nil
	case LeadDeclined:
		l.Current = nil
	case LeadUnassigned:
		l.Unassigned, l.Current = true, nil
	}
	return l
}

// Candidate is a partner that may receive leads.
type Candidate struct {
	PartnerID string
	Tier      Tier
	Geography string
}

// Lead commands.
type (
	// CreateLead records a lead and offers it to the first eligible partner.
	CreateLead struct {
		LeadID       string
		Geography    string
		Source       LeadSource
		SourceName   string
		Participants []string
		Customer     Customer
		// RespondBy, when set, is the first offer's deadline instead of the policy's
		// lead_accept_hours from now: a hot lead the first partner must answer sooner.
		// It must lie after now and no later than the policy's window; the offers the
		// lead cascades to get the policy's window.
		RespondBy time.Time
	}
	// AcceptLead accepts the current offer.
	AcceptLead struct{ PartnerID string }
	// DeclineLead declines the current offer with a reason; the lead cascades.
	DeclineLead struct{ PartnerID, Reason string }
	// CascadeLead moves an offer whose deadline passed to the next partner.
	CascadeLead struct{}
)

// LeadOrder ranks candidates for a lead (rule 24): for an event lead, the event's
// participants first; then the Platinum, then the Gold, then the Registered partners of the
// lead's geography, by partner id within a group. Registered partners come last: they get
// the leads both upper tiers passed on or let lapse ("Will every partner tier in the
// program have some access to sales leads?" "Yes"). Participants of an event lead take
// part from any geography and at any tier.
func LeadOrder(l LeadCreated, cands []Candidate) []Candidate {
	part := map[string]bool{}
	if l.Source == LeadFromEvent {
		for _, p := range l.Participants {
			part[p] = true
		}
	}
	var out []Candidate
	for _, c := range cands {
		if c.Tier.Valid() && (c.Geography == l.Geography || part[c.PartnerID]) {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if part[a.PartnerID] != part[b.PartnerID] {
			return part[a.PartnerID]
		}
		if a.Tier != b.Tier {
			return a.Tier.Rank() > b.Tier.Rank()
		}
		return a.PartnerID < b.PartnerID
	})
	return out
}

// LeadPartners lists the partners that may receive lead l, whose states LeadCandidates
// needs: the Platinum and Gold seat holders of its geography (geo is that geography's
// seats) and, for an event lead, its participants from any geography.
func LeadPartners(l LeadCreated, geo GeoState) []string {
	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, t := range []Tier{TierPlatinum, TierGold} {
		for _, id := range geo.Holders[t] {
			add(id)
		}
	}
	if l.Source == LeadFromEvent {
		for _, id := range l.Participants {
			add(id)
		}
	}
	return ids
}

// LeadCandidates returns the partners lead l may be offered to, as partners (the states of
// LeadPartners' ids) say they are now. A seat holder takes part at the tier of its seat
// (Platinum first when it holds both); one whose tier is no longer its seat's is left out,
// as is a partner not enrolled and an OEM (a lead goes to a reseller or integrator, never
// to an OEM). DecideLead ranks them (LeadOrder: participants, then Platinum before Gold).
func LeadCandidates(l LeadCreated, geo GeoState, partners map[string]PartnerState) []Candidate {
	seat := map[string]Tier{}
	for _, t := range []Tier{TierPlatinum, TierGold} {
		for _, id := range geo.Holders[t] {
			if _, ok := seat[id]; !ok {
				seat[id] = t
			}
		}
	}
	var out []Candidate
	for _, id := range LeadPartners(l, geo) {
		p := partners[id]
		if !p.Exists() || p.Kind == KindOEM {
			continue
		}
		if t, ok := seat[id]; ok && t != p.Tier {
			continue
		}
		out = append(out, Candidate{PartnerID: p.ID, Tier: p.Tier, Geography: p.Geography})
	}
	return out
}

// DecideLead decides a lead command. cands are the partners known now (tier as of now);
// the offer window comes from the policy's lead_accept_hours.
func DecideLead(l LeadState, cands []Candidate, pol Policy, cmd any, now time.Time) ([]Event, error) {
	now = now.UTC()
	if c, ok := cmd.(CreateLead); ok {
		switch {
		case !validID(c.LeadID):
			return nil, invalidf("lead_id", "lead id %q is not a valid id", c.LeadID)
		case l.LeadID != "":
			return nil, Errorf(Conflict, "lead_id", "lead.unique", "lead %s already exists", c.LeadID)
		case !validID(c.Geography):
			return nil, invalidf("geography", "geography %q is not a valid id", c.Geography)
		case c.Source != LeadFromCampaign && c.Source != LeadFromEvent:
			return nil, invalidf("source", "source %q must be campaign or event", c.Source)
		}
		if err := checkLead(c); err != nil {
			return nil, err
		}
		if err := checkRespondBy(c.RespondBy, pol, now); err != nil {
			return nil, err
		}
		created := LeadCreated{LeadID: c.LeadID, Geography: c.Geography, Source: c.Source, SourceName: c.SourceName,
			Participants: c.Participants, Customer: c.Customer, CreatedAt: now}
		evs := append([]Event{created}, nextOffer(LeadState{LeadCreated: created}, cands, pol, now)...)
		if o, ok := evs[1].(LeadOffered); ok && !c.RespondBy.IsZero() {
			o.Deadline = c.RespondBy.UTC()
			evs[1] = o
		}
		return evs, nil
	}
	if l.LeadID == "" {
		return nil, Errorf(NotFound, "lead_id", "lead.exists", "lead not found")
	}
	if l.AcceptedBy != "" || l.Unassigned {
		return nil, Errorf(Conflict, "lead_id", "lead.open", "lead %s is closed", l.LeadID)
	}
	switch c := cmd.(type) {
	case AcceptLead:
		if err := currentOffer(l, c.PartnerID, now); err != nil {
			return nil, err
		}
		return []Event{LeadAccepted{LeadID: l.LeadID, PartnerID: c.PartnerID, At: now}}, nil
	case DeclineLead:
		if err := CheckRequiredText("reason", c.Reason, MaxReasonLen); err != nil {
			return nil, err
		}
		if err := currentOffer(l, c.PartnerID, now); err != nil {
			return nil, err
		}
		evs := []Event{LeadDeclined{LeadID: l.LeadID, PartnerID: c.PartnerID, Reason: c.Reason, At: now}}
		return append(evs, nextOffer(l, cands, pol, now)...), nil
	case CascadeLead:
		if l.Current == nil || now.Before(l.Current.Deadline) {
			return nil, refusef("lead.deadline", "lead %s has no offer past its deadline", l.LeadID)
		}
		evs := []Event{LeadDeclined{LeadID: l.LeadID, PartnerID: l.Current.PartnerID, Reason: "acceptance deadline passed", Expired: true, At: now}}
		return append(evs, nextOffer(l, cands, pol, now)...), nil
	}
	return nil, invalidf("command", "unknown lead command %T", cmd)
}

// MaxLeadParticipants bounds the participants of an event lead.
const MaxLeadParticipants = 100

// checkLead checks a new lead's input fields (see input.go): the participants (an event
// lead's, each once) and the customer, checked like a registration's.
func checkLead(c CreateLead) error {
	if err := CheckRequiredText("source_name", c.SourceName, MaxNameLen); err != nil {
		return err
	}
	if len(c.Participants) > 0 && c.Source != LeadFromEvent {
		return Errorf(Invalid, "participants", "event_only", "participants are only for leads from an event")
	}
	if len(c.Participants) > MaxLeadParticipants {
		return invalidf("participants", "participants lists at most %d partners", MaxLeadParticipants)
	}
	seen := map[string]bool{}
	for i, p := range c.Participants {
		field := fmt.Sprintf("participants[%d]", i)
		if err := CheckID(field, p); err != nil {
			return err
		}
		if seen[p] {
			return Errorf(Invalid, field, "unique", "partner %s is listed twice", p)
		}
		seen[p] = true
	}
	return CheckCustomer("customer", c.Customer)
}

// checkRespondBy checks a new lead's respond_by (zero: the policy's window): after now and
// at most the policy's lead_accept_hours ahead, so a channel manager may shorten the first
// partner's window for a hot lead but never lengthen what the program promises.
func checkRespondBy(t time.Time, pol Policy, now time.Time) error {
	if t.IsZero() {
		return nil
	}
	window := leadWindow(pol)
	switch {
	case !t.After(now):
		return Errorf(Invalid, "respond_by", "lead.respond_by", "respond_by %s is not after now (%s)",
			t.UTC().Format(time.RFC3339), now.Format(time.RFC3339))
	case t.After(now.Add(window)):
		return Errorf(Invalid, "respond_by", "lead.respond_by", "respond_by %s is more than the policy's lead_accept_hours (%d) from now",
			t.UTC().Format(time.RFC3339), int(window/time.Hour))
	}
	return nil
}

// leadWindow is how long an offer stays open: the policy's lead_accept_hours (its default
// when unset).
func leadWindow(pol Policy) time.Duration {
	hours := pol.LeadAcceptHours
	if hours <= 0 {
		hours = DefaultPolicy().LeadAcceptHours
	}
	return time.Duration(hours) * time.Hour
}

func currentOffer(l LeadState, partnerID string, now time.Time) error {
	if l.Current == nil || l.Current.PartnerID != partnerID {
		return Errorf(Forbidden, "partner_id", "lead.offered_to", "lead %s is not offered to partner %s", l.LeadID, partnerID)
	}
	if !now.Before(l.Current.Deadline) {
		return refusef("lead.deadline", "the offer of lead %s to partner %s lapsed at %s", l.LeadID, partnerID, l.Current.Deadline.Format(time.RFC3339))
	}
	return nil
}

func nextOffer(l LeadState, cands []Candidate, pol Policy, now time.Time) []Event {
	for _, c := range LeadOrder(l.LeadCreated, cands) {
		if indexOf(l.Offered, c.PartnerID) >= 0 {
			continue
		}
		return []Event{LeadOffered{LeadID: l.LeadID, PartnerID: c.PartnerID, Tier: c.Tier, Round: len(l.Offered) + 1,
			OfferedAt: now, Deadline: now.Add(leadWindow(pol))}}
	}
	return []Event{LeadUnassigned{LeadID: l.LeadID, At: now}}
}
