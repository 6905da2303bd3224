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

// RegisterDeal registers a deal for cmd.PartnerID (cmd.DealID is assigned
// here): the decision reads the partner, the customer's reservation (guarded,
// so two registrations of one customer are decided one after the other) and
// the policy in force.
func (s *Service) RegisterDeal(ctx context.Context, md Meta, cmd domain.Register) (Created, error) {
	// The customer names the reservation stream read below: check it first.
	if err := domain.CheckCustomer("customer", cmd.Customer); err != nil {
		return Created{}, err
	}
	cmd.DealID = s.newID().String()
	cust := cmd.Customer
	cust.Domain = domain.NormalizeDomain(cust.Domain)
	key := domain.CustomerKey(cust)
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
