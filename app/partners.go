package app

import (
	"context"

	"dealcredit/domain"
)

// EnrollPartner enrolls a partner at tier registered.
func (s *Service) EnrollPartner(ctx context.Context, md Meta, cmd domain.Enroll) (Result, error) {
	if err := domain.CheckID("id", cmd.PartnerID); err != nil {
		return Result{}, err
	}
	return s.decidePartner(ctx, md, cmd.PartnerID, cmd.Geography, cmd)
}

// GrandfatherPartner enrolls an existing business partner as Gold, exempt
// from review until its review date.
func (s *Service) GrandfatherPartner(ctx context.Context, md Meta, cmd domain.Grandfather) (Result, error) {
	if err := domain.CheckID("id", cmd.PartnerID); err != nil {
		return Result{}, err
	}
	return s.decidePartner(ctx, md, cmd.PartnerID, cmd.Geography, cmd)
}

// Certify records an engineer's certification on a segment (named by the
// domain when cmd.CertID is empty). Asked by a partner for itself
// (md.Partner), it is a submission that counts for tier requirements only
// once a channel manager confirms it; asked by a channel manager or an
// admin, it counts at once (docs/rules.md rule 3a).
func (s *Service) Certify(ctx context.Context, md Meta, cmd domain.Certify) (Result, error) {
	if md.Partner != "" {
		return s.decidePartner(ctx, md, cmd.PartnerID, "", domain.SubmitCertification(cmd))
	}
	return s.decidePartner(ctx, md, cmd.PartnerID, "", cmd)
}

// ConfirmCertification confirms a partner's submitted certification: from
// then on it counts for tier requirements.
func (s *Service) ConfirmCertification(ctx context.Context, md Meta, cmd domain.ConfirmCertification) (Result, error) {
	return s.decidePartner(ctx, md, cmd.PartnerID, "", cmd)
}

// RefuseCertification refuses a partner's submitted certification with a
// reason; it never counts.
func (s *Service) RefuseCertification(ctx context.Context, md Meta, cmd domain.RefuseCertification) (Result, error) {
	return s.decidePartner(ctx, md, cmd.PartnerID, "", cmd)
}

// Commit records a partner's commitment to segments and a quarterly target.
func (s *Service) Commit(ctx context.Context, md Meta, cmd domain.Commit) (Result, error) {
	return s.decidePartner(ctx, md, cmd.PartnerID, "", cmd)
}

// ChangeTier moves a partner to another tier, checked against the tier's
// requirements and its geography's seats. Into a full tier, the partner is
// waitlisted: the Result then holds the SeatWaitlisted event that was
// appended AND the error says the seats are full.
func (s *Service) ChangeTier(ctx context.Context, md Meta, cmd domain.ChangeTier) (Result, error) {
	return s.decidePartner(ctx, md, cmd.PartnerID, "", cmd)
}

// SetSeats sets a geography's seat capacity per tier.
func (s *Service) SetSeats(ctx context.Context, md Meta, cmd domain.SetSeats) (Result, error) {
	if err := domain.CheckID("geography", cmd.Geography); err != nil {
		return Result{}, err
	}
	return s.Decide(ctx, md, func(t *Txn) ([]domain.Event, error) {
		g, err := LoadIn(t, domain.GeographyStream(cmd.Geography), domain.GeoState{}, domain.EvolveGeo)
		if err != nil {
			return nil, err
		}
		return domain.DecidePartner(domain.PartnerState{}, g, domain.DefaultPolicy(), cmd, t.Now())
	})
}

// decidePartner loads a partner and its geography's seats (both guarded,
// so two partners cannot take the last seat) and the policy in force, and
// decides cmd. geo names the geography of a partner not enrolled yet.
func (s *Service) decidePartner(ctx context.Context, md Meta, partnerID, geo string, cmd any) (Result, error) {
	return s.Decide(ctx, md, func(t *Txn) ([]domain.Event, error) {
		p, err := LoadIn(t, domain.PartnerStream(partnerID), domain.PartnerState{}, domain.EvolvePartner)
		if err != nil {
			return nil, err
		}
		gid := geo
		if gid == "" {
			gid = p.Geography
		}
		var g domain.GeoState
		if domain.ValidID(gid) {
			if g, err = LoadIn(t, domain.GeographyStream(gid), domain.GeoState{}, domain.EvolveGeo); err != nil {
				return nil, err
			}
		}
		h, err := Policy(t)
		if err != nil {
			return nil, err
		}
		return domain.DecidePartner(p, g, h.At(domain.DateOf(t.Now())), cmd, t.Now())
	})
}
