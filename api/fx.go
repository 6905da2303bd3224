package api

import (
	"context"
	"net/http"

	"dealcredit/app"
	"dealcredit/domain"
	"dealcredit/projections/attribution"
)

type fxRateRequest struct {
	From        string `json:"from"`
	To          string `json:"to"`
	Rate        string `json:"rate"`
	Period      string `json:"period"`
	EffectiveOn string `json:"effective_on"`
	Source      string `json:"source"`
	Reason      string `json:"reason"`
	Corrects    string `json:"corrects"`
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
			Period: domain.FXPeriod(req.Period), EffectiveOn: on, Source: req.Source, Reason: req.Reason, Corrects: req.Corrects})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.committed(w, http.StatusOK, res.Position, req.From+"-"+req.To, "", res.Events)
	}
}

// fxRateList is the answer of GET /v1/fx-rates.
type fxRateList struct {
	Rates []domain.FXRateSet `json:"rates"`
}

func (s *server) listFXRates() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, err := s.app.FXRates(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, fxRateList{Rates: st.List()})
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
		serveQuery(s, w, r, ModelAttribution, func(ctx context.Context) (domain.ReportedMix, error) {
			to, rates, err := s.reporting(ctx, q)
			if err != nil {
				return domain.ReportedMix{}, err
			}
			mix, _, err := s.Queries.RevenueMix(ctx, q.String())
			if err != nil {
				return domain.ReportedMix{}, err
			}
			rows := make([]domain.MixRow, 0, len(mix))
			for _, m := range mix {
				rows = append(rows, domain.MixRow{Quarter: q, Currency: m.Currency, Direct: m.DirectMinor, Indirect: m.IndirectMinor,
					AdjDirect: m.AdjustmentDirectMinor, AdjIndirect: m.AdjustmentIndirectMinor})
			}
			return domain.ReportMix(q, rows, to, rates)
		}, nil, "")
	}
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
		pid, q, err := s.ownStatementPath(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		serveQuery(s, w, r, ModelAttribution, func(ctx context.Context) (domain.ReportedStatement, error) {
			if err := s.partnerExists(ctx, pid); err != nil {
				return domain.ReportedStatement{}, err
			}
			to, rates, err := s.reporting(ctx, q)
			if err != nil {
				return domain.ReportedStatement{}, err
			}
			ss, _, err := s.Queries.Statements(ctx, pid, q.String())
			if err != nil {
				return domain.ReportedStatement{}, err
			}
			return domain.ReportStatement(pid, q, statementRows(ss), to, rates)
		}, nil, "")
	}
}

// statementRows are a statement's per-currency figures; the target is on the
// scorecard currency's row.
func statementRows(ss []attribution.Statement) []domain.StatementRow {
	out := make([]domain.StatementRow, 0, len(ss))
	for _, st := range ss {
		row := domain.StatementRow{Currency: st.Currency, Credited: st.CreditedRevenue, Rebates: st.Rebates, Service: st.ServiceCredit}
		if st.TargetCurrency != "" && st.Currency == st.ScorecardCurrency {
			row.Target = domain.Money{Amount: st.QuarterlyTarget, Currency: st.TargetCurrency}
		}
		out = append(out, row)
	}
	return out
}
