package app

import (
	"context"

	"dealcredit/domain"
)

// DealCommand is a command on one existing registration: Cmd is a domain deal
// command (domain.MarkWon, domain.MarkLost, domain.ReturnForInfo,
// domain.Resubmit, domain.Expire...).
type DealCommand struct {
	DealID string
	// Owner, when set, is the only partner the deal may belong to: another
	// partner's deal is reported as not found (a partner acting for itself).
	Owner string
	Cmd   any
}

// DealDone is the result of a DealCommand: the registration after it.
type DealDone struct {
	Result
	Deal domain.DealState
}

// OnDeal decides a command on an existing registration: it reads the deal
// (guarded), the partner, the customer's reservation (guarded: an outcome
// that ends protection releases it) and the policy in force.
func (s *Service) OnDeal(ctx context.Context, md Meta, c DealCommand) (DealDone, error) {
	var after domain.DealState
	res, err := s.Decide(ctx, md, func(t *Txn) ([]domain.Event, error) {
		if !domain.ValidID(c.DealID) {
			return nil, domain.Errorf(domain.NotFound, "id", "deal.exists", "deal not found")
		}
		d, err := LoadIn(t, domain.DealStream(c.DealID), domain.DealState{}, domain.EvolveDeal)
		if err != nil {
			return nil, err
		}
		if !d.Exists() || (c.Owner != "" && d.PartnerID != c.Owner) {
			return nil, domain.Errorf(domain.NotFound, "id", "deal.exists", "deal %s not found", c.DealID)
		}
		x, err := DealContext(t, d.PartnerID, d.CustomerKey)
		if err != nil {
			return nil, err
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
