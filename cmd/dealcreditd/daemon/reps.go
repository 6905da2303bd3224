package daemon

import (
	"context"
	"fmt"

	"dealcredit/domain"
)

// RepStatement reads a field rep's channel credit in quarter from the
// attribution read model (GET /v1/reps/{id}/statements/{quarter}).
func (q *queries) RepStatement(ctx context.Context, repID string, quarter domain.Quarter) (any, error) {
	recs, err := q.store.ReadStream(ctx, domain.FieldRepStream(repID), 0)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, &domain.Error{Code: domain.NotFound, Field: "id", Rule: "fieldrep.exists", Message: fmt.Sprintf("field rep %s not found", repID)}
	}
	ss, _, err := q.reader.RepStatements(ctx, repID, quarter.String())
	return ss, err
}
