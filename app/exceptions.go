package app

import (
	"context"

	"dealcredit/domain"
)

// AssignException credits an exception's line to a deal by hand. The
// decision reads the line's manual decisions (guarded) and the deal
// (unguarded: a later change of the deal re-attributes the line in the
// fold, as for a matched line).
func (s *Service) AssignException(ctx context.Context, md Meta, cmd domain.AssignException) (Result, error) {
	return s.decideException(ctx, md, cmd.Line, cmd.DealID, cmd)
}

// DismissException books an exception's line as direct revenue.
func (s *Service) DismissException(ctx context.Context, md Meta, cmd domain.DismissException) (Result, error) {
	return s.decideException(ctx, md, cmd.Line, "", cmd)
}

// ReopenException withdraws the manual decision on an exception's line: it
// is matched automatically again.
func (s *Service) ReopenException(ctx context.Context, md Meta, cmd domain.ReopenException) (Result, error) {
	return s.decideException(ctx, md, cmd.Line, "", cmd)
}

func (s *Service) decideException(ctx context.Context, md Meta, l domain.ExceptionLine, dealID string, cmd any) (Result, error) {
	return s.Decide(ctx, md, func(t *Txn) ([]domain.Event, error) {
		st, err := LoadIn(t, domain.ExceptionStream(l.OEMID, l.InvoiceNumber, l.Line), domain.ExceptionState{}, domain.EvolveException)
		if err != nil {
			return nil, err
		}
		var deal domain.DealState
		if domain.ValidID(dealID) {
			if deal, err = Peek(t, domain.DealStream(dealID), domain.DealState{}, domain.EvolveDeal); err != nil {
				return nil, err
			}
		}
		return domain.DecideException(st, deal, cmd, t.Now())
	})
}
