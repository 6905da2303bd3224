package app

import (
	"context"

	"dealcredit/domain"
)

// Scheduled commands: what the scheduler sends when a fact is due (with
// CascadeLead for a lead offer past its deadline). Each is
// refused with a domain rule when the fact is not (or no longer) due, so a
// scheduler acting on a read model that lags, or a second scheduler that
// lost the race, appends nothing.

// ExpireDeal expires a registration whose protection ended
// (registration.not_expired before; registration.status once it ended
// otherwise).
func (s *Service) ExpireDeal(ctx context.Context, md Meta, dealID string) (DealDone, error) {
	return s.OnDeal(ctx, md, DealCommand{DealID: dealID, Cmd: domain.Expire{}})
}

// LapseSeatOffer records that the freed seat of tier in geo, held for the
// head of the waitlist, was not taken by its last day (seats.offer_open
// while it is still open or after it was taken).
func (s *Service) LapseSeatOffer(ctx context.Context, md Meta, geo string, tier domain.Tier) (Result, error) {
	return s.Decide(ctx, md, func(t *Txn) ([]domain.Event, error) {
		g, err := LoadIn(t, domain.GeographyStream(geo), domain.GeoState{}, domain.EvolveGeo)
		if err != nil {
			return nil, err
		}
		g.Geography = geo
		return domain.DecideLapseSeatOffer(g, tier, domain.DateOf(t.Now()))
	})
}
