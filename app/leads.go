package app

import (
	"context"
	"slices"

	"dealcredit/domain"
)

// LeadDone is the result of a lead command: the lead as its events left it.
type LeadDone struct {
	Result
	Lead domain.LeadState
}

// CreateLead records a lead and offers it to the first partner that may
// take it (domain.LeadCandidates, domain.LeadOrder). An empty cmd.LeadID is
// assigned here.
func (s *Service) CreateLead(ctx context.Context, md Meta, cmd domain.CreateLead) (LeadDone, error) {
	if cmd.LeadID == "" {
		cmd.LeadID = s.newID().String()
	}
	if err := domain.CheckID("id", cmd.LeadID); err != nil {
		return LeadDone{}, err
	}
	return s.OnLead(ctx, md, cmd.LeadID, func(domain.LeadState) (any, error) { return cmd, nil })
}

// AcceptLead accepts the current offer of a lead: md's partner's own, or,
// for an actor acting for no partner, the partner it is offered to now.
func (s *Service) AcceptLead(ctx context.Context, md Meta, leadID string) (LeadDone, error) {
	return s.OnLead(ctx, md, leadID, func(l domain.LeadState) (any, error) {
		return domain.AcceptLead{PartnerID: offeree(md, l)}, nil
	})
}

// DeclineLead declines the current offer of a lead (whose, as in
// AcceptLead) with a reason; the lead goes to the next partner.
func (s *Service) DeclineLead(ctx context.Context, md Meta, leadID, reason string) (LeadDone, error) {
	return s.OnLead(ctx, md, leadID, func(l domain.LeadState) (any, error) {
		return domain.DeclineLead{PartnerID: offeree(md, l), Reason: reason}, nil
	})
}

// CascadeLead moves an offer whose deadline passed to the next partner.
func (s *Service) CascadeLead(ctx context.Context, md Meta, leadID string) (LeadDone, error) {
	return s.OnLead(ctx, md, leadID, func(domain.LeadState) (any, error) { return domain.CascadeLead{}, nil })
}

// offeree is the partner md answers an offer for.
func offeree(md Meta, l domain.LeadState) string {
	if md.Partner == "" && l.Current != nil {
		return l.Current.PartnerID
	}
	return md.Partner
}

// LeadVisible reports, as a not-found error, a lead md may not see: one
// not created, or, to a partner, one never offered to it (its existence is
// not revealed).
func LeadVisible(md Meta, l domain.LeadState, id string) error {
	if l.LeadID == "" || (md.Partner != "" && !slices.Contains(l.Offered, md.Partner)) {
		return domain.Errorf(domain.NotFound, "id", "", "lead %s not found", domain.Quote(id))
	}
	return nil
}

// OnLead decides a command on lead id: cmd builds the domain command from
// the lead as stored; the decision reads the partners that may receive it
// next and the policy in force. A lead other than a new one must be
// visible to md (LeadVisible). The lead's stream is guarded, so a decline,
// a lapse and an accept racing each other are decided one after the other.
func (s *Service) OnLead(ctx context.Context, md Meta, id string, cmd func(domain.LeadState) (any, error)) (LeadDone, error) {
	if len(id) > domain.MaxIDLen {
		return LeadDone{}, domain.Errorf(domain.NotFound, "id", "", "lead not found")
	}
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
		created, need := l.LeadCreated, false
		switch c := c.(type) {
		case domain.CreateLead:
			created = domain.LeadCreated{LeadID: c.LeadID, Geography: c.Geography, Source: c.Source, Participants: c.Participants}
			need = l.LeadID == ""
		case domain.DeclineLead, domain.CascadeLead:
			need = l.AcceptedBy == "" && !l.Unassigned
		}
		if _, creating := c.(domain.CreateLead); !creating {
			if err := LeadVisible(md, l, id); err != nil {
				return nil, err
			}
		}
		var cands []domain.Candidate
		if need {
			if cands, err = leadCandidates(t, created, l.Offered); err != nil {
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

// leadCandidates reads the geography's seats and the partners that may
// receive lead l (unguarded: a tier change a moment before does not
// invalidate the offer) and leaves the choice to the domain. Registered
// partners hold no seat: only once no Platinum, Gold or participant is left
// (offered lists who was) are they read from the service's
// WithRegisteredPartners, so a lead decision needs no read model until then.
func leadCandidates(t *Txn, l domain.LeadCreated, offered []string) ([]domain.Candidate, error) {
	if len(l.Participants) > domain.MaxLeadParticipants {
		return nil, nil // the decider refuses the lead: read nothing for it
	}
	var geo domain.GeoState
	if domain.ValidID(l.Geography) {
		g, err := Peek(t, domain.GeographyStream(l.Geography), domain.GeoState{}, domain.EvolveGeo)
		if err != nil {
			return nil, err
		}
		geo = g
	}
	partners, err := peekPartners(t, domain.LeadPartners(l, geo))
	if err != nil {
		return nil, err
	}
	cands := domain.LeadCandidates(l, geo, partners)
	for _, c := range domain.LeadOrder(l, cands) {
		if !slices.Contains(offered, c.PartnerID) {
			return cands, nil // someone above the registered partners is left
		}
	}
	if t.registered == nil || !domain.ValidID(l.Geography) {
		return cands, nil
	}
	ids, err := t.registered(t.ctx, l.Geography)
	if err != nil {
		return nil, &ReadModelError{What: "the registered partners of geography " + l.Geography, Err: err}
	}
	regs, err := peekPartners(t, ids)
	if err != nil {
		return nil, err
	}
	return append(cands, domain.RegisteredCandidates(l, ids, regs)...), nil
}

// peekPartners reads the partners of ids (invalid ids are left out: the
// decider refuses them).
func peekPartners(t *Txn, ids []string) (map[string]domain.PartnerState, error) {
	partners := map[string]domain.PartnerState{}
	for _, id := range ids {
		if !domain.ValidID(id) {
			continue
		}
		p, err := Peek(t, domain.PartnerStream(id), domain.PartnerState{}, domain.EvolvePartner)
		if err != nil {
			return nil, err
		}
		partners[id] = p
	}
	return partners, nil
}
