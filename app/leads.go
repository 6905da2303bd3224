package app

import (
	"context"
	"slices"

	"dealcredit/domain"
)

// LeadDone is the result of a lead command: the lead after it.
type LeadDone struct {
	Result
	Lead domain.LeadState
}

// OnLead decides a command on lead id: cmd builds the domain command from
// the lead as stored (and may refuse, e.g. a caller that may not see it);
// the decision reads the candidates to offer it to next and the policy in
// force. The lead's stream is guarded, so a decline, a lapse and an accept
// racing each other are decided one after the other.
func (s *Service) OnLead(ctx context.Context, md Meta, id string, cmd func(l domain.LeadState) (any, error)) (LeadDone, error) {
	var after domain.LeadState
	res, err := s.Decide(ctx, md, func(t *Txn) ([]domain.Event, error) {
		l, err := LoadIn(t, domain.LeadStream(id), domain.LeadState{}, domain.EvolveLead)
		if err != nil {
			return nil, err
		}
		c, err := cmd(l)
		if err != nil {
			return nil, err
		}
		created := l.LeadCreated
		if cl, ok := c.(domain.CreateLead); ok {
			created = domain.LeadCreated{LeadID: cl.LeadID, Geography: cl.Geography, Source: cl.Source, Participants: cl.Participants}
		}
		var need bool
		switch c.(type) {
		case domain.CreateLead:
			need = l.LeadID == ""
		case domain.DeclineLead, domain.CascadeLead:
			need = l.LeadID != "" && l.AcceptedBy == "" && !l.Unassigned
		}
		var cands []domain.Candidate
		if need {
			if cands, err = LeadCandidates(t, created, l.Offered); err != nil {
				return nil, err
			}
		}
		h, err := Policy(t)
		if err != nil {
			return nil, err
		}
		evs, err := domain.DecideLead(l, cands, h.At(domain.DateOf(t.Now())), c, t.Now())
		for _, e := range evs {
			l = domain.EvolveLead(l, e)
		}
		after = l
		return evs, err
	})
	return LeadDone{Result: res, Lead: after}, err
}

// LeadCandidates returns the partners the lead may be offered to next.
// Gold and Platinum partners hold a seat of their geography (every tier
// change takes and releases seats on the geography stream), so one stream
// read finds them; registered partners hold none and come from the
// service's WithRegisteredPartners; an event's participants may come from
// other geographies and are read from their own streams. The geography stream
// does not know a partner's kind, so the ranked candidates are checked in
// offer order until the first that may take the lead (never an OEM): the
// decider then offers it to that one, or marks the lead unassigned.
func LeadCandidates(t *Txn, l domain.LeadCreated, offered []string) ([]domain.Candidate, error) {
	partner := func(id string) (domain.PartnerState, error) {
		return Peek(t, domain.PartnerStream(id), domain.PartnerState{}, domain.EvolvePartner)
	}
	var cands []domain.Candidate
	seen := map[string]bool{}
	if domain.ValidID(l.Geography) {
		g, err := Peek(t, domain.GeographyStream(l.Geography), domain.GeoState{}, domain.EvolveGeo)
		if err != nil {
			return nil, err
		}
		for _, tier := range []domain.Tier{domain.TierPlatinum, domain.TierGold} {
			for _, id := range g.Holders[tier] {
				if !seen[id] {
					seen[id] = true
					cands = append(cands, domain.Candidate{PartnerID: id, Tier: tier, Geography: l.Geography})
				}
			}
		}
	}
	if l.Source == domain.LeadFromEvent {
		for _, id := range l.Participants {
			if seen[id] {
				continue
			}
			seen[id] = true
			p, err := partner(id)
			if err != nil {
				return nil, err
			}
			if p.Exists() {
				cands = append(cands, domain.Candidate{PartnerID: id, Tier: p.Tier, Geography: p.Geography})
			}
		}
	}
	first := func(cands []domain.Candidate) ([]domain.Candidate, error) {
		for _, c := range domain.LeadOrder(l, cands) {
			if slices.Contains(offered, c.PartnerID) {
				continue
			}
			p, err := partner(c.PartnerID)
			if err != nil {
				return nil, err
			}
			if p.Exists() && p.Kind != domain.KindOEM && p.Tier == c.Tier {
				return []domain.Candidate{{PartnerID: p.ID, Tier: p.Tier, Geography: p.Geography}}, nil
			}
		}
		return nil, nil
	}
	next, err := first(cands)
	if err != nil || next != nil || t.registered == nil || !domain.ValidID(l.Geography) {
		return next, err
	}
	// Registered partners rank last: they are looked up only once nobody
	// above them is left.
	ids, err := t.registered(t.ctx, l.Geography)
	if err != nil {
		return nil, err
	}
	var regs []domain.Candidate
	for _, id := range ids {
		if !seen[id] {
			regs = append(regs, domain.Candidate{PartnerID: id, Tier: domain.TierRegistered, Geography: l.Geography})
		}
	}
	return first(regs)
}
