package daemon

import (
	"context"

	"dealcredit/api"
	"dealcredit/projections/leads"
)

// Leads lists leads from the leads read model (GET /v1/leads).
func (q *queries) Leads(ctx context.Context, f api.LeadFilter) (any, error) {
	return leads.List(ctx, q.pool, leads.Filter{PartnerID: f.PartnerID, Own: f.Own, Status: f.Status,
		Geography: f.Geography, Source: f.Source, After: f.After, Limit: f.Limit})
}
