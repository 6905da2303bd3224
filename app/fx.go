package app

import (
	"context"

	"dealcredit/domain"
)

// SetFXRate records an exchange rate on the fx stream (guarded: two records of one pair
// and date are decided one after the other).
func (s *Service) SetFXRate(ctx context.Context, md Meta, c domain.SetFXRate) (Result, error) {
	return s.Decide(ctx, md, func(t *Txn) ([]domain.Event, error) {
		st, err := LoadIn(t, domain.FXStream(), domain.FXRates{}, domain.EvolveFX)
		if err != nil {
			return nil, err
		}
		return domain.DecideSetFXRate(st, c, t.Now())
	})
}

// FXRates returns every recorded exchange rate, folded from the fx stream.
func (s *Service) FXRates(ctx context.Context) (domain.FXRates, error) {
	return Load(ctx, s, domain.FXStream(), domain.FXRates{}, domain.EvolveFX)
}
