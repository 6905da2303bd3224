package app

import (
	"context"

	"dealcredit/domain"
)

// ApproveStatement approves a partner's quarter statement: its figures
// freeze (the fold books later credits as adjustments of a later quarter).
func (s *Service) ApproveStatement(ctx context.Context, md Meta, cmd domain.ApproveStatement) (Result, error) {
	return s.Decide(ctx, md, func(t *Txn) ([]domain.Event, error) {
		st, err := LoadIn(t, domain.StatementStream(cmd.PartnerID, cmd.Quarter), domain.StatementState{}, domain.EvolveStatement)
		if err != nil {
			return nil, err
		}
		var p domain.PartnerState
		if domain.ValidID(cmd.PartnerID) {
			if p, err = Peek(t, domain.PartnerStream(cmd.PartnerID), domain.PartnerState{}, domain.EvolvePartner); err != nil {
				return nil, err
			}
		}
		return domain.DecideApproveStatement(st, p, cmd, t.Now())
	})
}

// ApprovedRebates returns the rebates approved per currency of an approved
// statement (read from the read model, where they never change once the
// approval is folded).
type ApprovedRebates func(ctx context.Context) (map[string]int64, error)

// RecordPayout records a payout against the approved statement; the
// statement's stream is guarded, so two payouts racing are decided one
// after the other and never exceed what was approved together.
func (s *Service) RecordPayout(ctx context.Context, md Meta, cmd domain.RecordPayout, approved ApprovedRebates) (Result, error) {
	return s.Decide(ctx, md, func(t *Txn) ([]domain.Event, error) {
		st, err := LoadIn(t, domain.StatementStream(cmd.PartnerID, cmd.Quarter), domain.StatementState{}, domain.EvolveStatement)
		if err != nil {
			return nil, err
		}
		var figures map[string]int64
		if st.Approved {
			if figures, err = approved(ctx); err != nil {
				return nil, err
			}
		}
		return domain.DecidePayout(st, figures, cmd, t.Now())
	})
}
