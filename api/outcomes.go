package api

import (
	"net/http"

	"dealcredit/app"
)

// resubmitRequest is the body of POST /v1/deals/{id}/resubmit.
type resubmitRequest struct {
	Info string `json:"info"`
}

// dealOutcome serves the outcomes of a registration: won, lost, return (for
// information, body {reason}) and resubmit (the partner's answer to a
// return, body {info}). A partner acts on its own deals only (another
// partner's deal is 404).
func dealOutcome(action string) func(*server) http.HandlerFunc {
	return func(s *server) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var text string
			if action == "resubmit" {
				var req resubmitRequest
				if err := decodeJSON(w, r, &req); err != nil {
					s.fail(w, r, err)
					return
				}
				text = req.Info
			} else {
				var req reasonRequest
				if err := decodeJSON(w, r, &req); err != nil {
					s.fail(w, r, err)
					return
				}
				text = req.Reason
			}
			id, md := r.PathValue("id"), meta(r)
			var res app.DealDone
			var err error
			switch action {
			case "won":
				res, err = s.app.MarkDealWon(r.Context(), md, id, text)
			case "lost":
				res, err = s.app.MarkDealLost(r.Context(), md, id, text)
			case "return":
				res, err = s.app.ReturnDeal(r.Context(), md, id, text)
			default:
				res, err = s.app.ResubmitDeal(r.Context(), md, id, text)
			}
			if err != nil {
				s.fail(w, r, err)
				return
			}
			s.committed(w, http.StatusOK, res.Position, id, string(res.Deal.Status), res.Events)
		}
	}
}
