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
		created := LeadCreated{LeadID: c.LeadID, Geography: c.Geography, Source: c.Source, SourceName: c.SourceName,
			Participants: c.Participants, Customer: c.Customer, CreatedAt: now}
		return append([]Event{created}, nextOffer(LeadState{LeadCreated: created}, cands, pol, now)...), nil
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

// checkLead checks a new lead's input fields (see input.go). The customer is optional;
// when named, it is checked like a registration's.
func checkLead(c CreateLead) error {
	if err := CheckRequiredText("source_name", c.SourceName, MaxNameLen); err != nil {
		return err
	}
	if len(c.Participants) > MaxLeadParticipants {
		return invalidf("participants", "participants lists at most %d partners", MaxLeadParticipants)
	}
	for i, p := range c.Participants {
		if err := CheckID(fmt.Sprintf("participants[%d]", i), p); err != nil {
			return err
		}
	}
	if c.Customer == (Customer{}) {
		return nil
	}
	return CheckCustomer("customer", c.Customer)
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
		hours := pol.LeadAcceptHours
		if hours <= 0 {
			hours = DefaultPolicy().LeadAcceptHours
		}
		return []Event{LeadOffered{LeadID: l.LeadID, PartnerID: c.PartnerID, Tier: c.Tier, Round: len(l.Offered) + 1,
			OfferedAt: now, Deadline: now.Add(time.Duration(hours) * time.Hour)}}
	}
	return []Event{LeadUnassigned{LeadID: l.LeadID, At: now}}
}
