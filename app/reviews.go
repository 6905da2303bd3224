package app

import (
	"context"
	"errors"
	"fmt"

	"dealcredit/domain"
)

// RunReview is the quarterly tier review command with what it reads from
// the read models: the partners to review and the revenue credited to each
// in the quarter, per currency (the same credited revenue the statements'
// scorecards show), read at CreditsPosition.
type RunReview struct {
	Quarter         domain.Quarter
	Partners        []string
	Credited        map[string][]domain.Money
	CreditsPosition int64
}

// ReviewDone is a review command's result: the review as the log holds it
// after the command (its latest revision and the proposals applied).
type ReviewDone struct {
	Result
	Review domain.ReviewState
	// New is true when the command recorded a new revision; false when the
	// latest one had the same proposals and stands.
	New bool
}

// RunReview scores every partner of cmd.Partners (OEMs aside) for the
// quarter under the policy in force at its end, proposes the tier changes
// (domain.ProposeReview) against the seats of each geography now, and
// records them as a new revision of the quarter's review unless the latest
// revision proposed the same (domain.DecideRunReview).
func (s *Service) RunReview(ctx context.Context, md Meta, cmd RunReview) (ReviewDone, error) {
	if cmd.Quarter.IsZero() {
		return ReviewDone{}, domain.Errorf(domain.Invalid, "quarter", "required", "quarter is required")
	}
	res, err := s.Decide(ctx, md, func(t *Txn) ([]domain.Event, error) {
		st, err := LoadIn(t, domain.ReviewStream(cmd.Quarter), domain.ReviewState{}, domain.EvolveReview)
		if err != nil {
			return nil, err
		}
		h, err := Policy(t)
		if err != nil {
			return nil, err
		}
		pol := h.At(cmd.Quarter.End())
		reviewees, geos, err := reviewees(t, cmd, pol.PlatinumMinTarget.Currency)
		if err != nil {
			return nil, err
		}
		today := domain.DateOf(t.Now())
		props := domain.ProposeReview(cmd.Quarter, pol, reviewees, geos, today)
		return domain.DecideRunReview(st, domain.RunReview{Quarter: cmd.Quarter, CreditsPosition: cmd.CreditsPosition, Proposals: props}, today)
	})
	if err != nil {
		return ReviewDone{}, err
	}
	st, err := s.Review(ctx, cmd.Quarter)
	return ReviewDone{Result: res, Review: st, New: len(res.Events) > 0}, err
}

// reviewees loads the partners under review (enrolled, not OEMs) and their
// geographies' seats, with each partner's credited revenue in currency.
func reviewees(t *Txn, cmd RunReview, currency string) ([]domain.Reviewee, map[string]domain.GeoState, error) {
	var out []domain.Reviewee
	geos := map[string]domain.GeoState{}
	for _, id := range cmd.Partners {
		if !domain.ValidID(id) {
			continue
		}
		p, err := Peek(t, domain.PartnerStream(id), domain.PartnerState{}, domain.EvolvePartner)
		if err != nil {
			return nil, nil, err
		}
		if !p.Exists() || p.Kind == domain.KindOEM {
			continue
		}
		if _, ok := geos[p.Geography]; !ok {
			g, err := Peek(t, domain.GeographyStream(p.Geography), domain.GeoState{}, domain.EvolveGeo)
			if err != nil {
				return nil, nil, err
			}
			g.Geography = p.Geography
			geos[p.Geography] = g
		}
		credited := domain.Money{Currency: currency}
		for _, m := range cmd.Credited[id] {
			if m.Currency == currency {
				credited.Amount = m.Amount
			}
		}
		out = append(out, domain.Reviewee{Partner: p, Credited: credited})
	}
	return out, geos, nil
}

// Review returns the quarter's review as the log holds it (not found when
// the quarter was never reviewed).
func (s *Service) Review(ctx context.Context, q domain.Quarter) (domain.ReviewState, error) {
	st, err := Load(ctx, s, domain.ReviewStream(q), domain.ReviewState{}, domain.EvolveReview)
	if err != nil {
		return st, err
	}
	if !st.Exists() {
		return st, domain.Errorf(domain.NotFound, "quarter", "review.exists", "quarter %s has not been reviewed", q)
	}
	return st, nil
}

// ApplyProposal applies the latest review's proposal for one partner
// (domain.DecideApplyProposal): its tier change citing the review, or the
// kept tier recorded, and review.proposal_applied, in one atomic append
// guarded by the review, partner and geography streams. Applied before, it
// appends nothing (Result.Events empty).
func (s *Service) ApplyProposal(ctx context.Context, md Meta, cmd domain.ApplyProposal) (Result, error) {
	if err := domain.CheckID("partner", cmd.PartnerID); err != nil {
		return Result{}, err
	}
	return s.Decide(ctx, md, func(t *Txn) ([]domain.Event, error) {
		st, err := LoadIn(t, domain.ReviewStream(cmd.Quarter), domain.ReviewState{}, domain.EvolveReview)
		if err != nil {
			return nil, err
		}
		p, err := LoadIn(t, domain.PartnerStream(cmd.PartnerID), domain.PartnerState{}, domain.EvolvePartner)
		if err != nil {
			return nil, err
		}
		var g domain.GeoState
		if p.Exists() {
			if g, err = LoadIn(t, domain.GeographyStream(p.Geography), domain.GeoState{}, domain.EvolveGeo); err != nil {
				return nil, err
			}
			g.Geography = p.Geography
		}
		return domain.DecideApplyProposal(st, p, g, cmd, domain.DateOf(t.Now()))
	})
}

// ProposalOutcome is what applying one proposal did: applied now, applied
// before, or refused (Err, a *domain.Error such as review.stale).
type ProposalOutcome struct {
	PartnerID string
	Result    Result
	// Status is "applied", "already_applied" or "refused".
	Status string
	Err    error
}

// ApplyReview applies every proposal of the quarter's latest review, each
// in its own append (ApplyProposal), in partner order: a stale proposal is
// refused without stopping the others. An error that is not a rule's (the
// database) stops it.
func (s *Service) ApplyReview(ctx context.Context, md Meta, q domain.Quarter) (domain.ReviewState, []ProposalOutcome, error) {
	st, err := s.Review(ctx, q)
	if err != nil {
		return st, nil, err
	}
	out := make([]ProposalOutcome, 0, len(st.Latest.Proposals))
	for _, p := range st.Latest.Proposals {
		res, err := s.ApplyProposal(ctx, md, domain.ApplyProposal{Quarter: q, PartnerID: p.PartnerID})
		o := ProposalOutcome{PartnerID: p.PartnerID, Result: res, Status: ProposalStatus(res, err), Err: err}
		var rule *domain.Error
		if err != nil && !errors.As(err, &rule) {
			return st, out, fmt.Errorf("apply review %s proposal of %s: %w", st.Latest.ReviewID, p.PartnerID, err)
		}
		out = append(out, o)
	}
	st, err = s.Review(ctx, q)
	return st, out, err
}

// ProposalStatus names what ApplyProposal did: "applied", "already_applied"
// (nothing appended) or "refused".
func ProposalStatus(res Result, err error) string {
	switch {
	case err != nil:
		return "refused"
	case len(res.Events) == 0:
		return "already_applied"
	}
	return "applied"
}
