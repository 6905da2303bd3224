package app

import (
	"context"

	"dealcredit/domain"
)

// PolicyChange is a new policy version. RebateBPS, RegistrationDays and
// ClaimGraceDays are given in full; every other parameter left nil (zero
// for LeadAcceptHours, empty for Currency) is carried over from the policy
// in force. A non-nil empty Geographies clears the per-geography overrides.
type PolicyChange struct {
	EffectiveFrom     domain.Date
	RebateBPS         map[domain.Tier]int64
	RegistrationDays  int
	ClaimGraceDays    int
	MaxExtensions     *int
	PlatinumMinTarget *int64
	GoldMinTarget     *int64
	// Currency, when set, is the currency of both minimum targets.
	Currency        string
	LeadAcceptHours int
	FieldRepBPS     *int64
	Geographies     map[string]domain.GeoPolicy
	Reason          string
}

// command is the full policy c makes of the policy in force cur.
func (c PolicyChange) command(cur domain.Policy) domain.SetPolicy {
	out := domain.SetPolicy{
		EffectiveFrom: c.EffectiveFrom, RebateBPS: c.RebateBPS, RegistrationDays: c.RegistrationDays, ClaimGraceDays: c.ClaimGraceDays,
		MaxExtensions: cur.MaxExtensions, PlatinumMinTarget: cur.PlatinumMinTarget, GoldMinTarget: cur.GoldMinTarget,
		LeadAcceptHours: c.LeadAcceptHours, FieldRepBPS: cur.FieldRepBPS, Geographies: c.Geographies, Reason: c.Reason,
	}
	if c.MaxExtensions != nil {
		out.MaxExtensions = *c.MaxExtensions
	}
	if c.FieldRepBPS != nil {
		out.FieldRepBPS = *c.FieldRepBPS
	}
	if c.Geographies == nil {
		out.Geographies = cur.Geographies
	}
	if c.LeadAcceptHours == 0 {
		out.LeadAcceptHours = cur.LeadAcceptHours
	}
	if c.Currency != "" {
		out.PlatinumMinTarget.Currency, out.GoldMinTarget.Currency = c.Currency, c.Currency
	}
	if c.PlatinumMinTarget != nil {
		out.PlatinumMinTarget.Amount = *c.PlatinumMinTarget
	}
	if c.GoldMinTarget != nil {
		out.GoldMinTarget.Amount = *c.GoldMinTarget
	}
	return out
}

// PolicyResult is the result of SetPolicy: the version it published.
type PolicyResult struct {
	Result
	Version int
}

// SetPolicy publishes the next policy version, built from c and the latest
// policy (guarded: two changes are versioned one after the other).
func (s *Service) SetPolicy(ctx context.Context, md Meta, c PolicyChange) (PolicyResult, error) {
	var version int
	res, err := s.Decide(ctx, md, func(t *Txn) ([]domain.Event, error) {
		h, err := LoadIn(t, domain.PolicyStream(), domain.PolicyHistory{}, domain.EvolvePolicy)
		if err != nil {
			return nil, err
		}
		evs, err := domain.DecideSetPolicy(h, c.command(h.Latest()), t.Now())
		for _, e := range evs {
			if p, ok := e.(domain.PolicySet); ok {
				version = p.Version
			}
		}
		return evs, err
	})
	return PolicyResult{Result: res, Version: version}, err
}
