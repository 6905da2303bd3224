package api

import (
	"context"
	"net/http"
	"slices"

	"dealcredit/domain"
	"dealcredit/projections/leads"
)

// LeadFilter selects leads for GET /v1/leads (the leads read model's
// filter: partner, own view, status, geography, source, page).
type LeadFilter = leads.Filter

// leadStatuses are the values of GET /v1/leads?status=.
var leadStatuses = []string{"open", "offered", "accepted", "unassigned", "closed"}

// listLeads serves GET /v1/leads from the leads read model: a partner sees
// only leads offered to it, with its own offers only.
func (s *server) listLeads() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pid, err := partnerScope(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		q := r.URL.Query()
		f := LeadFilter{PartnerID: pid, Own: principalFrom(r.Context()).Role == RolePartner,
			Status: q.Get("status"), Geography: q.Get("geography"), Source: q.Get("source"), After: q.Get("after")}
		for _, p := range []struct{ field, v string }{{"partner_id", pid}, {"geography", f.Geography}, {"after", f.After}} {
			if p.v != "" {
				if err := checkID(p.field, p.v); err != nil {
					s.fail(w, r, err)
					return
				}
			}
		}
		if f.Status != "" && !slices.Contains(leadStatuses, f.Status) {
			s.fail(w, r, &Error{Code: CodeInvalid, Field: "status", Rule: "enum", Message: "status must be open, offered, accepted, unassigned or closed, got " + domain.Quote(f.Status)})
			return
		}
		if f.Source != "" && f.Source != string(domain.LeadFromCampaign) && f.Source != string(domain.LeadFromEvent) {
			s.fail(w, r, &Error{Code: CodeInvalid, Field: "source", Rule: "enum", Message: "source must be campaign or event, got " + domain.Quote(f.Source)})
			return
		}
		limit, err := queryInt(r, "limit", 100, 1, 500)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		f.Limit = int(limit)
		serveQuery(s, w, r, ModelLeads, func(ctx context.Context) (leads.Page, error) { return s.Queries.Leads(ctx, f) }, nil, "")
	}
}
