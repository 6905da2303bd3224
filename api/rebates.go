package api

import (
	"context"
	"io"
	"net/http"
	"time"

	"dealcredit/domain"
)

// statementPath reads and checks {id} and {quarter} of a statement route.
func statementPath(r *http.Request) (string, domain.Quarter, error) {
	pid := r.PathValue("id")
	if err := domain.CheckID("id", pid); err != nil {
		return "", domain.Quarter{}, err
	}
	q, err := quarterParam(r.PathValue("quarter"), "quarter")
	return pid, q, err
}

func (s *server) approveStatement() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pid, q, err := statementPath(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if err := decodeNone(w, r); err != nil {
			s.fail(w, r, err)
			return
		}
		res, err := s.app.ApproveStatement(r.Context(), meta(r),
			domain.ApproveStatement{PartnerID: pid, Quarter: q, By: principalFrom(r.Context()).Actor()})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.committed(w, http.StatusOK, res.Position, pid+"/"+q.String(), "approved", res.Events)
	}
}

func (s *server) recordPayout() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pid, q, err := statementPath(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		var req struct {
			AmountMinor *int64 `json:"amount_minor"`
			Currency    string `json:"currency"`
			Reference   string `json:"reference"`
			PaidOn      string `json:"paid_on"`
		}
		if err := decodeJSON(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
		if req.AmountMinor == nil {
			s.fail(w, r, &Error{Code: CodeInvalid, Field: "amount_minor", Rule: "required", Message: "amount_minor is required"})
			return
		}
		paidOn, err := parseDate("paid_on", req.PaidOn)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if s.Queries == nil {
			s.fail(w, r, errorf(CodeUnavailable, "", "the read models are not served by this instance"))
			return
		}
		cmd := domain.RecordPayout{PartnerID: pid, Quarter: q, Amount: domain.Money{Amount: *req.AmountMinor, Currency: req.Currency},
			Reference: req.Reference, PaidOn: paidOn, By: principalFrom(r.Context()).Actor()}
		res, err := s.app.RecordPayout(r.Context(), meta(r), cmd, func(ctx context.Context) (map[string]int64, error) {
			return s.approvedRebates(ctx, pid, q)
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.committed(w, http.StatusCreated, res.Position, pid+"/"+q.String(), "paid", res.Events)
	}
}

// approvedRebates waits (up to WaitTimeout) until the read model shows the
// statement approved, then returns its approved rebates per currency.
func (s *server) approvedRebates(ctx context.Context, pid string, q domain.Quarter) (map[string]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.WaitTimeout)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		stmts, _, err := s.Queries.Statements(ctx, pid, q.String())
		if err != nil {
			return nil, err
		}
		m, approved := map[string]int64{}, false
		for _, st := range stmts {
			if st.Status == "approved" {
				approved, m[st.Currency] = true, st.ApprovedRebates
			}
		}
		if approved {
			return m, nil
		}
		select {
		case <-ctx.Done():
			return nil, errorf(CodeUnavailable, "", "the read model has not reached the approval of the %s statement of %s yet; retry", q, pid)
		case <-t.C:
		}
	}
}

func (s *server) payouts() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		quarter := ""
		if v := r.URL.Query().Get("quarter"); v != "" {
			q, err := s.queryQuarter(v, "quarter")
			if err != nil {
				s.fail(w, r, err)
				return
			}
			quarter = q.String()
		}
		r.Header.Set("Accept", "text/csv")
		serveQuery[any](s, w, r, ModelAttribution, nil,
			func(ctx context.Context, out io.Writer) error {
				_, err := s.Queries.WritePayoutsCSV(ctx, out, quarter)
				return err
			},
			"payouts-"+quarter+".csv")
	}
}
