package dbsetup

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Applied returns, for each migration set in order, its name and the newest
// version applied in the database, e.g. "event log 7" (for the daemon's
// start log).
func Applied(ctx context.Context, q Querier) ([]string, error) {
	var out []string
	for _, s := range Sets() {
		v, err := applied(ctx, q, s)
		if err != nil {
			return nil, fmt.Errorf("%s migrations: %w", s.Name, err)
		}
		out = append(out, fmt.Sprintf("%s %d", s.Name, v))
	}
	return out, nil
}

// applied is the newest version of s applied in the database.
func applied(ctx context.Context, q Querier, s Set) (int64, error) {
	var v int64
	err := q.QueryRow(ctx, "SELECT coalesce(max(version_id), 0) FROM "+pgx.Identifier{s.VersionTable}.Sanitize()+" WHERE is_applied").Scan(&v)
	return v, err
}
