package api

import (
	"context"
	"net/http"

	"dealcredit/app"
	"dealcredit/domain"
	"dealcredit/projections/attribution"
	"dealcredit/projections/runner"
)

// repRequest is the body of PUT /v1/reps/{id}.
type repRequest struct {
	Name      string `json:"name"`
	Geography string `json:"geography"`
	SizeBand  string `json:"size_band"`
	// Accounts are the customers the rep owns by name ({name, country}).
	Accounts []domain.Customer `json:"accounts"`
}

// assignRep enrols a field rep or moves it to another territory (geography
// plus customer size band, and named accounts; docs/rules.md rule 17).
func (s *server) assignRep() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req repRequest
		if err := decodeJSON(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
		id := r.PathValue("id")
		res, err := s.app.AssignFieldRep(r.Context(), meta(r), domain.AssignFieldRep{RepID: id, Name: req.Name,
			Geography: req.Geography, SizeBand: req.SizeBand, Accounts: req.Accounts})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.committed(w, http.StatusOK, res.Position, id, "assigned", res.Events)
	}
}

// repStatement serves a field rep's channel credit in a quarter, one row
// per currency, from the attribution read model.
func (s *server) repStatement() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		q, err := s.queryQuarter(r.PathValue("quarter"), "quarter")
		if idErr := checkID("id", id); idErr != nil {
			err = idErr
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		ss, rm, err := readFresh(s, r, ModelAttribution, func(ctx context.Context) ([]attribution.RepStatement, runner.ReadState, error) {
			return s.Queries.RepStatements(ctx, id, q.String())
		})
		if err == nil && len(ss) == 0 {
			// Only an assigned rep is credited: the log is asked only when
			// there are no rows.
			err = s.repExists(r.Context(), id)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeQueryResult(w, rm, ss)
	}
}

// repExists answers 404 for a field rep that was never assigned.
func (s *server) repExists(ctx context.Context, id string) error {
	rep, err := app.Load(ctx, s.app, domain.FieldRepStream(id), domain.FieldRep{}, domain.EvolveFieldRep)
	if err == nil && rep.RepID == "" {
		err = &domain.Error{Code: domain.NotFound, Field: "id", Rule: "fieldrep.exists", Message: "field rep " + id + " not found"}
	}
	return err
}
