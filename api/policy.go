package api

import (
	"maps"
	"net/http"
	"slices"

	"dealcredit/app"
	"dealcredit/domain"
)

type policyRequest struct {
	EffectiveFrom          string                      `json:"effective_from"`
	RebateBPS              map[domain.Tier]*int64      `json:"rebate_bps"`
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
	ReportingCurrency      string                      `json:"reporting_currency"`
}

// change is the policy change the request asks for: rebate_bps,
// claim_grace_days and registration_days come from the request; every other
// parameter it omits is carried over from the policy in force (an explicit
// empty "geographies" object clears the per-geography overrides).
func (q policyRequest) change() (app.PolicyChange, error) {
	var rebates map[domain.Tier]int64
	if q.RebateBPS != nil {
		rebates = make(map[domain.Tier]int64, len(q.RebateBPS))
	}
	for _, t := range slices.Sorted(maps.Keys(q.RebateBPS)) {
		if !t.Valid() {
			return app.PolicyChange{}, &Error{Code: CodeInvalid, Field: "rebate_bps." + string(t), Rule: "enum", Message: "unknown tier (registered, gold, platinum)"}
		}
		// A null rate is refused rather than read as 0 bps: omit the tier to pay it nothing.
		if q.RebateBPS[t] == nil {
			return app.PolicyChange{}, &Error{Code: CodeInvalid, Field: "rebate_bps." + string(t), Rule: "type", Message: "must be an integer (basis points), got null"}
		}
		rebates[t] = *q.RebateBPS[t]
	}
	from, err := parseDate("effective_from", q.EffectiveFrom)
	if err != nil {
		return app.PolicyChange{}, err
	}
	if q.RebateBPS == nil {
		return app.PolicyChange{}, &Error{Code: CodeInvalid, Field: "rebate_bps", Rule: "required", Message: "rebate_bps is required"}
	}
	if q.ClaimGraceDays == nil {
		return app.PolicyChange{}, &Error{Code: CodeInvalid, Field: "claim_grace_days", Rule: "required", Message: "claim_grace_days is required"}
	}
	return app.PolicyChange{EffectiveFrom: from, RebateBPS: rebates, RegistrationDays: q.RegistrationDays, ClaimGraceDays: *q.ClaimGraceDays,
		MaxExtensions: q.MaxExtensions, PlatinumMinTarget: q.PlatinumMinTargetMinor, GoldMinTarget: q.GoldMinTargetMinor, Currency: q.Currency,
		LeadAcceptHours: q.LeadAcceptHours, FieldRepBPS: q.FieldRepBPS, Geographies: q.Geographies, Reason: q.Reason,
		ReportingCurrency: q.ReportingCurrency}, nil
}

func (s *server) setPolicy() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req policyRequest
		if err := decodeJSON(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
		c, err := req.change()
		if err != nil {
			s.fail(w, r, err)
			return
		}
		res, err := s.app.SetPolicy(r.Context(), meta(r), c)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.committed(w, http.StatusOK, res.Position, itoa(res.Version), "", res.Events)
	}
}

// policyView is GET /v1/policy: the policy in force today and every version.
type policyView struct {
	InForce  domain.Policy   `json:"in_force"`
	Versions []domain.Policy `json:"versions"`
}

func (s *server) getPolicy() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, err := app.Load(r.Context(), s.app, domain.PolicyStream(), domain.PolicyHistory{}, domain.EvolvePolicy)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		today := domain.DateOf(s.app.Now())
		out := policyView{InForce: st.At(today), Versions: st.Versions}
		if out.Versions == nil {
			out.Versions = []domain.Policy{}
		}
		writeJSON(w, http.StatusOK, out)
	}
}
