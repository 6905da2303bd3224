package daemon

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"dealcredit/cmd/dealcreditd/config"
	"dealcredit/cmd/dealcreditd/dbsetup"
	"dealcredit/internal/pgdb"
)

// migrateAndOpen creates and migrates the database as the owner (unless the
// only DSN given is the app role's, which cannot) and returns a pool logged
// in as config.AppRole. It refuses a pool whose role could rewrite the log
// and, when it did not migrate, a database whose migrations are behind.
func migrateAndOpen(ctx context.Context, cfg config.Config) (*pgxpool.Pool, error) {
	if cfg.Migrates() {
		if err := dbsetup.Up(ctx, cfg.OwnerDatabaseURL()); err != nil {
			return nil, err
		}
		if err := dbsetup.EnsureLogin(ctx, cfg.OwnerDatabaseURL(), cfg.AppDatabaseURL(), config.AppRole); err != nil {
			return nil, fmt.Errorf("database role %s: %w", config.AppRole, err)
		}
	}
	pool, err := pgdb.OpenPool(ctx, cfg.AppDatabaseURL())
	if err != nil {
		return nil, fmt.Errorf("open database as %s: %w", config.AppRole, err)
	}
	if err := dbsetup.Check(ctx, pool); err != nil && !cfg.Migrates() {
		pool.Close()
		return nil, fmt.Errorf("%w: run dealcredit migrate with the owner's DATABASE_MIGRATION_URL first", err)
	}
	if err := dbsetup.CheckRole(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("%w: serve as %s (DATABASE_URL) and migrate with the owner's DATABASE_MIGRATION_URL", err, config.AppRole)
	}
	return pool, nil
}
