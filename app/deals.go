package app

import (
	"context"

	"dealcredit/domain"
)

// Created is the result of a command that creates an aggregate: its new id.
type Created struct {
	Result
	ID string
}

// DealCommand is a command on one existing registration: Cmd is a domain
// deal command (domain.Approve, domain.Reject, domain.LogEngagement, ...).
type DealCommand struct {
	DealID string
	// Owner, when set, is the only partner the deal may belong to: another
	// partner's deal is reported as not found (md.Partner, when set, is
	// the owner too).
	Owner string
	Cmd   any
}

// DealDone is the result of a DealCommand: the registration after it.
type DealDone struct {
	Result
	Deal domain.DealState
}

// RegisterDeal registers a deal for cmd.PartnerID (cmd.DealID is assigned
// here; an empty PartnerID is md.Partner's): the decision reads the partner,
// the customer's reservation (guarded, so two registrations of one customer
// are decided one after the other) and the policy in force. The decider
// checks the registration; only the partner id, which names the stream read
// here, is checked before.
func (s *Service) RegisterDeal(ctx context.Context, md Meta, cmd domain.Register) (Created, error) {
	if md.Partner != "" {
		if cmd.PartnerID != "" && cmd.PartnerID != md.Partner {
			return Created{}, domain.Errorf(domain.Forbidden, "partner_id", "partner.own", "a partner token registers deals for its own partner only")
		}
		cmd.PartnerID = md.Partner
	}
	if err := domain.CheckID("partner_id", cmd.PartnerID); err != nil {
		return Created{}, err
	}
	cmd.DealID = s.newID().String()
	key := domain.CustomerKey(cmd.Customer)
	res, err := s.Decide(ctx, md, func(t *Txn) ([]domain.Event, error) {
		d, err := LoadIn(t, domain.DealStream(cmd.DealID), domain.DealState{}, domain.EvolveDeal)
		if err != nil {
			return nil, err
		}
		x, err := DealContext(t, cmd.PartnerID, key)
		if err != nil {
			return nil, err
		}
		return domain.DecideDeal(d, x, cmd, t.Now())
	})
	return Created{Result: res, ID: cmd.DealID}, err
}

// ApproveDeal approves a pending (or returned) registration; of two
// approvals for one customer's segment only the first wins.
func (s *Service) ApproveDeal(ctx context.Context, md Meta, dealID string) (DealDone, error) {
	return s.OnDeal(ctx, md, DealCommand{DealID: dealID, Cmd: domain.Approve{By: md.Actor}})
}

// RejectDeal rejects a registration with a reason.
func (s *Service) RejectDeal(ctx context.Context, md Meta, dealID, reason string) (DealDone, error) {
	return s.OnDeal(ctx, md, DealCommand{DealID: dealID, Cmd: domain.Reject{Reason: reason, By: md.Actor}})
}

// WithdrawDeal withdraws a registration (releasing its protection).
func (s *Service) WithdrawDeal(ctx context.Context, md Meta, dealID string) (DealDone, error) {
	return s.OnDeal(ctx, md, DealCommand{DealID: dealID, Cmd: domain.Withdraw{By: md.Actor}})
}

// ExtendDeal extends an approved registration's protection window.
func (s *Service) ExtendDeal(ctx context.Context, md Meta, dealID string) (DealDone, error) {
	return s.OnDeal(ctx, md, DealCommand{DealID: dealID, Cmd: domain.Extend{By: md.Actor}})
}

// OverrideDeal approves a registration over a conflict, with a reason.
func (s *Service) OverrideDeal(ctx context.Context, md Meta, dealID, reason string) (DealDone, error) {
	return s.OnDeal(ctx, md, DealCommand{DealID: dealID, Cmd: domain.Override{Reason: reason, By: md.Actor}})
}

// LogEngagement records an engagement step on a deal; the step is the
// partner's of md (the deal's partner when md acts for no partner).
func (s *Service) LogEngagement(ctx context.Context, md Meta, dealID string, cmd domain.LogEngagement) (DealDone, error) {
	cmd.PartnerID = md.Partner
	return s.OnDeal(ctx, md, DealCommand{DealID: dealID, Cmd: cmd})
}

// HandOffService records that an OEM declined a deal's service side and
// cmd.ToPartnerID (an enrolled partner) takes it.
func (s *Service) HandOffService(ctx context.Context, md Meta, dealID string, cmd domain.HandOffService) (DealDone, error) {
	return s.OnDeal(ctx, md, DealCommand{DealID: dealID, Cmd: cmd})
}

// OnDeal decides a command on an existing registration the caller may see:
// it reads the deal (guarded), the partner, the customer's reservation
// (guarded: two approvals for one customer are decided one after the
// other, and an outcome that ends protection releases it), the policy in
// force and, for a service handoff, the partner taking it.
func (s *Service) OnDeal(ctx context.Context, md Meta, c DealCommand) (DealDone, error) {
	owner := c.Owner
	if owner == "" {
		owner = md.Partner
	}
	var after domain.DealState
	res, err := s.Decide(ctx, md, func(t *Txn) ([]domain.Event, error) {
		d, err := deal(t, owner, c.DealID)
		if err != nil {
			return nil, err
		}
		x, err := DealContext(t, d.PartnerID, d.CustomerKey)
		if err != nil {
			return nil, err
		}
		if h, ok := c.Cmd.(domain.HandOffService); ok && domain.ValidID(h.ToPartnerID) {
			if x.Recipient, err = Peek(t, domain.PartnerStream(h.ToPartnerID), domain.PartnerState{}, domain.EvolvePartner); err != nil {
				return nil, err
			}
		}
		evs, err := domain.DecideDeal(d, x, c.Cmd, t.Now())
		for _, e := range evs {
			d = domain.EvolveDeal(d, e)
		}
		after = d
		return evs, err
	})
	return DealDone{Result: res, Deal: after}, err
}

// Deal reads a deal as md may see it (always current).
func (s *Service) Deal(ctx context.Context, md Meta, dealID string) (domain.DealState, error) {
	return deal(s.Reader(ctx), md.Partner, dealID)
}

// deal loads a deal (guarded): a missing deal, or, when owner is set,
// another partner's, is not found (its existence is not revealed).
func deal(t *Txn, owner, id string) (domain.DealState, error) {
	if len(id) > domain.MaxIDLen {
		return domain.DealState{}, domain.Errorf(domain.NotFound, "id", "", "deal not found")
	}
	d, err := LoadIn(t, domain.DealStream(id), domain.DealState{}, domain.EvolveDeal)
	if err != nil {
		return d, err
	}
	if !d.Exists() || (owner != "" && d.PartnerID != owner) {
		return d, domain.Errorf(domain.NotFound, "id", "", "deal %s not found", domain.Quote(id))
	}
	return d, nil
}

// DealContext loads what a deal decision reads besides the deal. The
// customer key's reservation stream is guarded by its version, so two
// approvals for the same customer cannot both win.
func DealContext(t *Txn, partnerID, key string) (domain.DealContext, error) {
	var x domain.DealContext
	if partnerID != "" {
		p, err := Peek(t, domain.PartnerStream(partnerID), domain.PartnerState{}, domain.EvolvePartner)
		if err != nil {
			return x, err
		}
		x.Partner = p
	}
	if key != "" {
		res, err := LoadIn(t, domain.CustomerKeyStream(key), domain.Reservation{}, domain.EvolveReservation)
		if err != nil {
			return x, err
		}
		x.Reservation = res
	}
	h, err := Policy(t)
	if err != nil {
		return x, err
	}
	x.Policy = h.At(domain.DateOf(t.Now()))
	return x, nil
}

// CloseQuarter closes a quarter that has ended.
func (s *Service) CloseQuarter(ctx context.Context, md Meta, q domain.Quarter) (Result, error) {
	return s.Decide(ctx, md, func(t *Txn) ([]domain.Event, error) {
		st, err := LoadIn(t, domain.QuarterStream(q), domain.QuarterState{}, domain.EvolveQuarter)
		if err != nil {
			return nil, err
		}
		return domain.DecideCloseQuarter(st, domain.CloseQuarter{Quarter: q, By: md.Actor}, t.Now())
	})
}
