package daemon

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/api"
	"dealcredit/eventstore/pgstore"
)

// startProjections starts the projection runners (when enabled) and returns
// the read side for the API and a readiness check.
func startProjections(ctx context.Context, pool *pgxpool.Pool, store *pgstore.Store, reg prometheus.Registerer, logger *slog.Logger,
	enabled bool, goRun func(string, func(context.Context) error)) (api.Queries, func(context.Context) error, error) {
	return nil, nil, nil
}
