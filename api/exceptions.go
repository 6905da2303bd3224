package api

import (
	"context"
	"net/http"

	"dealcredit/app"
	"dealcredit/domain"
	"dealcredit/projections/attribution"
)

// exceptionPage is the answer of GET /v1/exceptions: the rows and the
// exception_id to pass as after for the next page ("" on the last page).
type exceptionPage struct {
	Exceptions []attribution.ExceptionRow `json:"exceptions"`
	Next       string                     `json:"next"`
}

func (s *server) listExceptions() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		qv := r.URL.Query()
		f := attribution.ExceptionFilter{Status: qv.Get("status"), OEMID: qv.Get("oem_id"), PartnerID: qv.Get("partner_id"),
			Customer: qv.Get("customer"), After: qv.Get("after")}
		if f.Status != "" && !exceptionStatuses[f.Status] {
			s.fail(w, r, &Error{Code: CodeInvalid, Field: "status", Rule: "enum", Message: "must be one of open, matched, claimed, assigned, dismissed, superseded, waiting, applied, refused; got " + domain.Quote(f.Status)})
			return
		}
		for _, c := range []struct{ field, v string }{{"oem_id", f.OEMID}, {"partner_id", f.PartnerID}, {"after", f.After}} {
			if err := domain.CheckOptionalID(c.field, c.v); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		if err := domain.CheckText("customer", f.Customer, domain.MaxNameLen); err != nil {
			s.fail(w, r, err)
			return
		}
		if v := qv.Get("quarter"); v != "" {
			q, err := s.queryQuarter(v, "quarter")
			if err != nil {
				s.fail(w, r, err)
				return
			}
			f.Quarter = q.String()
		}
		limit, err := queryInt(r, "limit", 100, 1, 1000)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		f.Limit = int(limit)
		if p := principalFrom(r.Context()); p.Role == RolePartner {
			f.VisibleTo = p.PartnerID
		}
		serveQuery(s, w, r, ModelAttribution, func(ctx context.Context) (exceptionPage, error) {
			rows, _, err := s.Queries.Exceptions(ctx, f)
			page := exceptionPage{Exceptions: rows}
			if len(rows) == f.Limit {
				page.Next = rows[len(rows)-1].ExceptionID
			}
			return page, err
		}, nil, "")
	}
}

// exceptionStatuses are the statuses of docs/read-models.md, exceptions.
var exceptionStatuses = map[string]bool{"open": true, "matched": true, "claimed": true, "assigned": true, "dismissed": true,
	"superseded": true, "waiting": true, "applied": true, "refused": true}

// exceptionDecision is the body of assign, dismiss and reopen.
type exceptionDecision struct {
	DealID string `json:"deal_id"`
	Reason string `json:"reason"`
}

// exceptionAction handles POST /v1/exceptions/{id}/{action}: the id names
// the line through the read model (an exception row, once written, is never
// deleted), the command layer decides on the line's own stream.
func exceptionAction(action string) func(*server) http.HandlerFunc {
	return func(s *server) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var req exceptionDecision
			if err := decodeJSON(w, r, &req); err != nil {
				s.fail(w, r, err)
				return
			}
			if action != "assign" && req.DealID != "" {
				s.fail(w, r, &Error{Code: CodeInvalid, Field: "deal_id", Rule: "unexpected", Message: "deal_id is for assign only"})
				return
			}
			id := r.PathValue("id")
			if err := domain.CheckID("id", id); err != nil {
				s.fail(w, r, err)
				return
			}
			if s.Queries == nil {
				s.fail(w, r, errorf(CodeUnavailable, "", "the read models are not served by this instance"))
				return
			}
			x, err := s.Queries.Exception(r.Context(), id)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			line := domain.ExceptionLine{OEMID: x.OEMID, InvoiceNumber: x.InvoiceNumber, Line: x.Line, Segment: domain.Segment(x.Segment),
				CreditMemo: x.CreditMemo}
			md, by := meta(r), principalFrom(r.Context()).Actor()
			var res app.Result
			switch action {
			case "assign":
				res, err = s.app.AssignException(r.Context(), md, domain.AssignException{Line: line, DealID: req.DealID, Reason: req.Reason, By: by})
			case "dismiss":
				res, err = s.app.DismissException(r.Context(), md, domain.DismissException{Line: line, Reason: req.Reason, By: by})
			default:
				res, err = s.app.ReopenException(r.Context(), md, domain.ReopenException{Line: line, Reason: req.Reason, By: by})
			}
			if err != nil {
				s.fail(w, r, err)
				return
			}
			s.committed(w, http.StatusOK, res.Position, id, action, res.Events)
		}
	}
}
