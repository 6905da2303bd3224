package api

import (
	"context"
	"net/http"

	"dealcredit/app"
	"dealcredit/domain"
)

// reviewView is a quarter's tier review as the API serves it: its latest
// revision, read from the log, with each proposal and whether it was
// applied. A partner sees its own proposal only.
type reviewView struct {
	ReviewID        string         `json:"review_id"`
	Quarter         string         `json:"quarter"`
	Revision        int            `json:"revision"`
	On              domain.Date    `json:"on"`
	CreditsPosition int64          `json:"credits_position"`
	Proposals       []proposalView `json:"proposals"`
}

// proposalView is one proposal and, once applied, the day it was.
type proposalView struct {
	domain.Proposal
	Applied   bool         `json:"applied"`
	AppliedOn *domain.Date `json:"applied_on,omitempty"`
}

// reviewRun is the answer to POST /v1/reviews/{quarter}: 201 with a new
// revision, 200 when the latest revision proposed the same and stands.
type reviewRun struct {
	Position int64      `json:"position"`
	New      bool       `json:"new"`
	Review   reviewView `json:"review"`
}

// proposalApplied is one proposal's outcome: applied now, applied before
// (already_applied), or refused with its problem (apply all only).
type proposalApplied struct {
	ReviewID  string   `json:"review_id"`
	PartnerID string   `json:"partner_id"`
	Status    string   `json:"status"`
	Position  int64    `json:"position"`
	Events    []string `json:"events"`
	Problem   *Problem `json:"problem,omitempty"`
}

// reviewApplied is the answer to POST /v1/reviews/{quarter}/apply: 200
// when every proposal is applied (now or before), 207 when some were
// refused (each result says why).
type reviewApplied struct {
	Position int64             `json:"position"`
	ReviewID string            `json:"review_id"`
	Results  []proposalApplied `json:"results"`
}

// viewReview builds the view of st; a non-empty partnerID keeps only that
// partner's proposal.
func viewReview(st domain.ReviewState, partnerID string) reviewView {
	l := st.Latest
	v := reviewView{ReviewID: l.ReviewID, Quarter: l.Quarter.String(), Revision: l.Revision, On: l.On,
		CreditsPosition: l.CreditsPosition, Proposals: []proposalView{}}
	for _, p := range l.Proposals {
		if partnerID != "" && p.PartnerID != partnerID {
			continue
		}
		pv := proposalView{Proposal: p}
		if a, ok := st.Applied[p.PartnerID]; ok {
			on := a.On
			pv.Applied, pv.AppliedOn = true, &on
		}
		v.Proposals = append(v.Proposals, pv)
	}
	return v
}

// reviewFacts reads what a review needs from the read models, once both
// reached the log's head: every partner (leads read model) and the revenue
// credited to each in q (the attribution statements, whose scorecards show
// the same).
func (s *server) reviewFacts(ctx context.Context, q domain.Quarter) (app.RunReview, error) {
	head, err := s.Store.Head(ctx)
	if err != nil {
		return app.RunReview{}, err
	}
	for _, m := range []string{ModelLeads, ModelAttribution} {
		if _, err := s.readModelAt(ctx, m, head); err != nil {
			return app.RunReview{}, err
		}
	}
	partners, err := s.Queries.Partners(ctx)
	if err != nil {
		return app.RunReview{}, err
	}
	stmts, st, err := s.Queries.Statements(ctx, "", q.String())
	if err != nil {
		return app.RunReview{}, err
	}
	cmd := app.RunReview{Quarter: q, CreditsPosition: st.Position, Credited: map[string][]domain.Money{}}
	for _, p := range partners {
		cmd.Partners = append(cmd.Partners, p.ID)
	}
	for _, st := range stmts {
		cmd.Credited[st.PartnerID] = append(cmd.Credited[st.PartnerID],
			domain.Money{Amount: st.CreditedRevenue + st.AdjustmentRevenue, Currency: st.Currency})
	}
	return cmd, nil
}

// runReview serves POST /v1/reviews/{quarter}.
func (s *server) runReview() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := quarterParam(r.PathValue("quarter"), "quarter")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if err := decodeNone(w, r); err != nil {
			s.fail(w, r, err)
			return
		}
		cmd, err := s.reviewFacts(r.Context(), q)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		done, err := s.app.RunReview(r.Context(), meta(r), cmd)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		status := http.StatusOK
		if done.New {
			status = http.StatusCreated
		}
		setPosition(w, done.Position)
		writeJSON(w, status, reviewRun{Position: done.Position, New: done.New, Review: viewReview(done.Review, "")})
	}
}

// getReview serves GET /v1/reviews/{quarter}: a partner sees its own proposal only.
func (s *server) getReview() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := s.queryQuarter(r.PathValue("quarter"), "quarter")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		st, err := s.app.Review(r.Context(), q)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		own := ""
		if p := principalFrom(r.Context()); p.Role == RolePartner {
			own = p.PartnerID
		}
		writeJSON(w, http.StatusOK, viewReview(st, own))
	}
}

// applyProposal serves POST /v1/reviews/{quarter}/proposals/{partner}/apply.
func (s *server) applyProposal() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := quarterParam(r.PathValue("quarter"), "quarter")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		pid := r.PathValue("partner")
		if err := checkID("partner", pid); err != nil {
			s.fail(w, r, err)
			return
		}
		if err := decodeNone(w, r); err != nil {
			s.fail(w, r, err)
			return
		}
		res, err := s.app.ApplyProposal(r.Context(), meta(r), domain.ApplyProposal{Quarter: q, PartnerID: pid})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		st, err := s.app.Review(r.Context(), q)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		setPosition(w, res.Position)
		writeJSON(w, http.StatusOK, proposalApplied{ReviewID: st.Latest.ReviewID, PartnerID: pid,
			Status: app.ProposalStatus(res, nil), Position: res.Position, Events: eventTypes(res)})
	}
}

// applyReview serves POST /v1/reviews/{quarter}/apply.
func (s *server) applyReview() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := quarterParam(r.PathValue("quarter"), "quarter")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if err := decodeNone(w, r); err != nil {
			s.fail(w, r, err)
			return
		}
		st, outcomes, err := s.app.ApplyReview(r.Context(), meta(r), q)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out := reviewApplied{ReviewID: st.Latest.ReviewID, Results: make([]proposalApplied, 0, len(outcomes))}
		status := http.StatusOK
		for _, o := range outcomes {
			res := proposalApplied{ReviewID: st.Latest.ReviewID, PartnerID: o.PartnerID, Status: o.Status,
				Position: o.Result.Position, Events: eventTypes(o.Result)}
			if o.Err != nil {
				pr := classify(o.Err)
				res.Problem, status = &pr, http.StatusMultiStatus
			}
			out.Position = max(out.Position, o.Result.Position)
			out.Results = append(out.Results, res)
		}
		if out.Position == 0 {
			if out.Position, err = s.Store.Head(r.Context()); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		setPosition(w, out.Position)
		writeJSON(w, status, out)
	}
}

// eventTypes lists a result's event types (never nil).
func eventTypes(res app.Result) []string {
	out := make([]string, 0, len(res.Events))
	return append(out, res.EventTypes()...)
}
