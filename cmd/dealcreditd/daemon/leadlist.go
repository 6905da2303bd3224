package daemon

import (
	"context"

	"dealcredit/api"
	"dealcredit/projections/leads"
)

// Leads lists leads from the leads read model (GET /v1/leads).
func (q *queries) Leads(ctx context.Context, f api.LeadFilter) (any, error) {
	return leads.List(ctx, q.pool, f)
}
