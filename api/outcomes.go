package api

import (
	"net/http"

	"dealcredit/app"
	"dealcredit/domain"
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
			p := principalFrom(r.Context())
			by := p.Actor()
			var cmd any
			if action == "resubmit" {
				var req resubmitRequest
				if err := decodeJSON(w, r, &req); err != nil {
					s.fail(w, r, err)
					return
				}
				cmd = domain.Resubmit{Info: req.Info, By: by}
			} else {
				var req reasonRequest
				if err := decodeJSON(w, r, &req); err != nil {
					s.fail(w, r, err)
					return
				}
				switch action {
				case "won":
					cmd = domain.MarkWon{Reason: req.Reason, By: by}
				case "lost":
					cmd = domain.MarkLost{Reason: req.Reason, By: by}
				case "return":
					cmd = domain.ReturnForInfo{Reason: req.Reason, By: by}
				}
			}
			c := app.DealCommand{DealID: r.PathValue("id"), Cmd: cmd}
			if p.Role == RolePartner {
				c.Owner = p.PartnerID
			}
			res, err := s.app.OnDeal(r.Context(), meta(r), c)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			s.committed(w, http.StatusOK, res.Position, c.DealID, string(res.Deal.Status), res.Events)
		}
	}
}
