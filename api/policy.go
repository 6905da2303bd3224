package api

import (
	"net/http"

	"dealcredit/app"
	"dealcredit/domain"
)

type policyRequest struct {
	EffectiveFrom          string                      `json:"effective_from"`
	RebateBPS              map[domain.Tier]int64       `json:"rebate_bps"`
	RegistrationDays       int                         `json:"registration_days"`
	ClaimGraceDays         *int                        `json:"claim_grace_days"`
	MaxExtensions          *int                        `json:"max_extensions"`
	PlatinumMinTargetMinor *int64                      `json:"platinum_min_target_minor"`
	GoldMinTargetMinor     *int64                      `json:"gold_min_target_minor"`
	Currency               string                      `json:"currency"`
	LeadAcceptHours        int                         `json:"lead_accept_hours"`
	FieldRepBPS            *int64                      `json:"field_rep_bps"`
	Geographies            map[string]domain.GeoPolicy `json:"geographies"`
	Reason                 string                      `json:"reason"`
}

// command builds the new policy version: rebate_bps, claim_grace_days and
// registration_days come from the request; every other parameter the request
// omits is carried over from the policy in force (an explicit empty
// "geographies" object clears the per-geography overrides).
func (q policyRequest) command(cur domain.Policy) (domain.SetPolicy, error) {
	for t := range q.RebateBPS {
		if !t.Valid() {
			return domain.SetPolicy{}, &Error{Code: CodeInvalid, Field: "rebate_bps." + string(t), Rule: "enum", Message: "unknown tier (registered, gold, platinum)"}
		}
	}
	from, err := parseDate("effective_from", q.EffectiveFrom)
	if err != nil {
		return domain.SetPolicy{}, err
	}
	c := domain.SetPolicy{
		EffectiveFrom: from, RebateBPS: q.RebateBPS, RegistrationDays: q.RegistrationDays,
		MaxExtensions: cur.MaxExtensions, ClaimGraceDays: cur.ClaimGraceDays,
		PlatinumMinTarget: cur.PlatinumMinTarget, GoldMinTarget: cur.GoldMinTarget,
		LeadAcceptHours: q.LeadAcceptHours, FieldRepBPS: cur.FieldRepBPS, Geographies: q.Geographies, Reason: q.Reason,
	}
	if q.RebateBPS == nil {
		return c, &Error{Code: CodeInvalid, Field: "rebate_bps", Rule: "required", Message: "rebate_bps is required"}
	}
	if q.ClaimGraceDays == nil {
		return c, &Error{Code: CodeInvalid, Field: "claim_grace_days", Rule: "required", Message: "claim_grace_days is required"}
	}
	c.ClaimGraceDays = *q.ClaimGraceDays
	if q.MaxExtensions != nil {
		c.MaxExtensions = *q.MaxExtensions
	}
	if q.FieldRepBPS != nil {
		c.FieldRepBPS = *q.FieldRepBPS
	}
	if q.Geographies == nil { // omitted; an explicit {} clears the overrides
		c.Geographies = cur.Geographies
	}
	if q.LeadAcceptHours == 0 {
		c.LeadAcceptHours = cur.LeadAcceptHours
	}
	if q.Currency != "" {
		c.PlatinumMinTarget.Currency, c.GoldMinTarget.Currency = q.Currency, q.Currency
	}
	if q.PlatinumMinTargetMinor != nil {
		c.PlatinumMinTarget.Amount = *q.PlatinumMinTargetMinor
	}
	if q.GoldMinTargetMinor != nil {
		c.GoldMinTarget.Amount = *q.GoldMinTargetMinor
	}
	return c, nil
}

func (s *server) setPolicy() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req policyRequest
		if err := decodeJSON(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
		var version int
		pos, events, err := update(s, r, domain.PolicyStream(), domain.PolicyHistory{}, domain.EvolvePolicy,
			func(h domain.PolicyHistory) ([]domain.Event, error) {
				c, err := req.command(h.Latest())
				if err != nil {
					return nil, err
				}
				evs, err := domain.DecideSetPolicy(h, c, s.Clock())
				if err == nil && len(evs) == 1 {
					if p, ok := evs[0].(domain.PolicySet); ok {
						version = p.Version
					}
				}
				return evs, err
			})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.committed(w, http.StatusOK, pos, itoa(version), "", events)
	}
}

func (s *server) getPolicy() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, err := app.Load(r.Context(), s.app, domain.PolicyStream(), domain.PolicyHistory{}, domain.EvolvePolicy)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		today := domain.DateOf(s.Clock())
		out := struct {
			InForce  domain.Policy   `json:"in_force"`
			Versions []domain.Policy `json:"versions"`
		}{InForce: st.At(today), Versions: st.Versions}
		if out.Versions == nil {
			out.Versions = []domain.Policy{}
		}
		writeJSON(w, http.StatusOK, out)
	}
}
