package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"dealcredit/app"
	"dealcredit/domain"
)

type fxRateRequest struct {
	From        string `json:"from"`
	To          string `json:"to"`
	Rate        string `json:"rate"`
	Period      string `json:"period"`
	EffectiveOn string `json:"effective_on"`
	Source      string `json:"source"`
	Reason      string `json:"reason"`
}

func (s *server) setFXRate() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req fxRateRequest
		if err := decodeJSON(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
		on, err := parseDate("effective_on", req.EffectiveOn)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		res, err := s.app.SetFXRate(r.Context(), meta(r), domain.SetFXRate{From: req.From, To: req.To, Rate: req.Rate,
			Period: domain.FXPeriod(req.Period), EffectiveOn: on, Source: req.Source, Reason: req.Reason})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.committed(w, http.StatusOK, res.Position, req.From+"-"+req.To, "", res.Events)
	}
}

func (s *server) listFXRates() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, err := s.app.FXRates(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, struct {
			Rates []domain.FXRateSet `json:"rates"`
		}{st.List()})
	}
}

// reportedMix serves quarter's revenue mix in the policy's reporting currency,
// converted at read time from the per-currency mix of the read model and the
// recorded rates (see domain.ReportMix).
func (s *server) reportedMix() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := s.queryQuarter(r.URL.Query().Get("quarter"), "quarter")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.serveQuery(w, r, ModelAttribution, func(ctx context.Context) (any, error) { return s.reportMix(ctx, q) }, nil, "")
	}
}

func (s *server) reportMix(ctx context.Context, q domain.Quarter) (any, error) {
	pol, err := app.Load(ctx, s.app, domain.PolicyStream(), domain.PolicyHistory{}, domain.EvolvePolicy)
	if err != nil {
		return nil, err
	}
	to := pol.At(q.End()).ReportingCurrency
	if to == "" {
		to = pol.Latest().ReportingCurrency
	}
	if to == "" {
		return nil, domain.Errorf(domain.Unprocessable, "reporting_currency", "policy.reporting_currency",
			"the policy names no reporting currency: set reporting_currency with PUT /v1/policy")
	}
	v, err := s.Queries.RevenueMix(ctx, q)
	if err != nil {
		return nil, err
	}
	rows, err := mixRows(v)
	if err != nil {
		return nil, err
	}
	rates, err := s.app.FXRates(ctx)
	if err != nil {
		return nil, err
	}
	return domain.ReportMix(q, rows, to, rates)
}

// mixRows reads the per-currency mix rows from the read model's answer,
// served as any, through its JSON form (the columns of docs/api.md).
func mixRows(v any) ([]domain.MixRow, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("revenue mix: %w", err)
	}
	var in []struct {
		Quarter                 domain.Quarter `json:"quarter"`
		Currency                string         `json:"currency"`
		DirectMinor             int64          `json:"direct_minor"`
		IndirectMinor           int64          `json:"indirect_minor"`
		AdjustmentDirectMinor   int64          `json:"adjustment_direct_minor"`
		AdjustmentIndirectMinor int64          `json:"adjustment_indirect_minor"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("revenue mix: %w", err)
	}
	out := make([]domain.MixRow, 0, len(in))
	for _, m := range in {
		out = append(out, domain.MixRow{Quarter: m.Quarter, Currency: m.Currency, Direct: m.DirectMinor, Indirect: m.IndirectMinor,
			AdjDirect: m.AdjustmentDirectMinor, AdjIndirect: m.AdjustmentIndirectMinor})
	}
	return out, nil
}
