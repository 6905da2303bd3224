package pgstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"dealcredit/internal/pgdb"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// VersionTable is the goose version table of the event log's migrations.
const VersionTable = "eventstore_migrations"

// Migrations returns the event log's embedded goose migrations.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(fmt.Sprintf("pgstore: embedded migrations: %v", err))
	}
	return sub
}

// Migrate creates the database named in dsn if it is missing and applies the
// event log's migrations. It is safe to call from several processes at once.
func Migrate(ctx context.Context, dsn string) error {
	if err := pgdb.EnsureDatabase(ctx, dsn); err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	if err := pgdb.Migrate(ctx, dsn, Migrations(), VersionTable); err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	return nil
}
