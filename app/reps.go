package app

import (
	"context"

	"dealcredit/domain"
)

// AssignFieldRep enrols a field sales rep or moves it to another territory
// (geography plus customer size band, docs/rules.md rule 17): from the
// assignment's day, the rep is credited on the channel deals of that
// territory.
func (s *Service) AssignFieldRep(ctx context.Context, md Meta, cmd domain.AssignFieldRep) (Result, error) {
	if err := domain.CheckID("id", cmd.RepID); err != nil {
		return Result{}, err
	}
	return s.Decide(ctx, md, func(t *Txn) ([]domain.Event, error) {
		cur, err := LoadIn(t, domain.FieldRepStream(cmd.RepID), domain.FieldRep{}, domain.EvolveFieldRep)
		if err != nil {
			return nil, err
		}
		return domain.DecideAssignFieldRep(cur, cmd, t.Now())
	})
}
