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
	to, rates, err := s.reporting(ctx, q)
	if err != nil {
		return nil, err
	}
	v, err := s.Queries.RevenueMix(ctx, q)
	if err != nil {
		return nil, err
	}
	rows, err := mixRows(v)
	if err != nil {
		return nil, err
	}
	return domain.ReportMix(q, rows, to, rates)
}

// reporting returns the reporting currency of the policy in force on q's last
// day (else the latest policy's) and the recorded rates.
func (s *server) reporting(ctx context.Context, q domain.Quarter) (string, domain.FXRates, error) {
	pol, err := app.Load(ctx, s.app, domain.PolicyStream(), domain.PolicyHistory{}, domain.EvolvePolicy)
	if err != nil {
		return "", domain.FXRates{}, err
	}
	to := pol.At(q.End()).ReportingCurrency
	if to == "" {
		to = pol.Latest().ReportingCurrency
	}
	if to == "" {
		return "", domain.FXRates{}, domain.Errorf(domain.Unprocessable, "reporting_currency", "policy.reporting_currency",
			"the policy names no reporting currency: set reporting_currency with PUT /v1/policy")
	}
	rates, err := s.app.FXRates(ctx)
	return to, rates, err
}

// reportedStatement serves a partner's quarter in the reporting currency: its
// statement rows converted and summed, and the scorecard's target converted
// (see domain.ReportStatement).
func (s *server) reportedStatement() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pid := r.PathValue("id")
		if err := ownPartner(r, pid); err != nil {
			s.fail(w, r, err)
			return
		}
		q, err := s.queryQuarter(r.PathValue("quarter"), "quarter")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.serveQuery(w, r, ModelAttribution, func(ctx context.Context) (any, error) {
			to, rates, err := s.reporting(ctx, q)
			if err != nil {
				return nil, err
			}
			v, err := s.Queries.Statement(ctx, pid, q)
			if err != nil {
				return nil, err
			}
			rows, err := statementRows(v)
			if err != nil {
				return nil, err
			}
			return domain.ReportStatement(pid, q, rows, to, rates)
		}, nil, "")
	}
}

// statementRows reads a statement's per-currency rows from the read model's
// answer through its JSON form (the columns of docs/finance.md).
func statementRows(v any) ([]domain.StatementRow, error) {
	var in []struct {
		Currency          string `json:"currency"`
		CreditedRevenue   int64  `json:"credited_revenue_minor"`
		Rebates           int64  `json:"rebates_minor"`
		ServiceCredit     int64  `json:"service_credit_minor"`
		QuarterlyTarget   int64  `json:"quarterly_target_minor"`
		TargetCurrency    string `json:"target_currency"`
		ScorecardCurrency string `json:"scorecard_currency"`
	}
	if err := viaJSON(v, &in); err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	out := make([]domain.StatementRow, 0, len(in))
	for _, st := range in {
		row := domain.StatementRow{Currency: st.Currency, Credited: st.CreditedRevenue, Rebates: st.Rebates, Service: st.ServiceCredit}
		if st.TargetCurrency != "" && st.Currency == st.ScorecardCurrency {
			row.Target = domain.Money{Amount: st.QuarterlyTarget, Currency: st.TargetCurrency}
		}
		out = append(out, row)
	}
	return out, nil
}

// viaJSON copies the read model's answer v (served as any) into dst through its JSON form.
func viaJSON(v, dst any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dst)
}

// mixRows reads the per-currency mix rows from the read model's answer,
// served as any, through its JSON form (the columns of docs/api.md).
func mixRows(v any) ([]domain.MixRow, error) {
	var in []struct {
		Quarter                 domain.Quarter `json:"quarter"`
		Currency                string         `json:"currency"`
		DirectMinor             int64          `json:"direct_minor"`
		IndirectMinor           int64          `json:"indirect_minor"`
		AdjustmentDirectMinor   int64          `json:"adjustment_direct_minor"`
		AdjustmentIndirectMinor int64          `json:"adjustment_indirect_minor"`
	}
	if err := viaJSON(v, &in); err != nil {
		return nil, fmt.Errorf("revenue mix: %w", err)
	}
	out := make([]domain.MixRow, 0, len(in))
	for _, m := range in {
		out = append(out, domain.MixRow{Quarter: m.Quarter, Currency: m.Currency, Direct: m.DirectMinor, Indirect: m.IndirectMinor,
			AdjDirect: m.AdjustmentDirectMinor, AdjIndirect: m.AdjustmentIndirectMinor})
	}
	return out, nil
}
