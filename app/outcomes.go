package app

import (
	"context"

	"dealcredit/domain"
)

// Deal outcomes (docs/rules.md rule 8): each with a reason, by md's actor;
// a partner (md.Partner) reports on its own deals only.

// MarkDealWon records that an approved registration closed won.
func (s *Service) MarkDealWon(ctx context.Context, md Meta, dealID, reason string) (DealDone, error) {
	return s.OnDeal(ctx, md, DealCommand{DealID: dealID, Cmd: domain.MarkWon{Reason: reason, By: md.Actor}})
}

// MarkDealLost records that a registration was lost (releasing its protection).
func (s *Service) MarkDealLost(ctx context.Context, md Meta, dealID, reason string) (DealDone, error) {
	return s.OnDeal(ctx, md, DealCommand{DealID: dealID, Cmd: domain.MarkLost{Reason: reason, By: md.Actor}})
}

// ReturnDeal returns a registration to its partner with a question.
func (s *Service) ReturnDeal(ctx context.Context, md Meta, dealID, question string) (DealDone, error) {
	return s.OnDeal(ctx, md, DealCommand{DealID: dealID, Cmd: domain.ReturnForInfo{Reason: question, By: md.Actor}})
}

// ResubmitDeal answers a return for information and submits the
// registration again.
func (s *Service) ResubmitDeal(ctx context.Context, md Meta, dealID, info string) (DealDone, error) {
	return s.OnDeal(ctx, md, DealCommand{DealID: dealID, Cmd: domain.Resubmit{Info: info, By: md.Actor}})
}
