package api

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"dealcredit/internal/pgdb"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// VersionTable is the goose version table of the api package's own tables.
const VersionTable = "api_goose_version"

// Migrate creates or upgrades the api package's tables (the idempotency
// store) in the database named by dsn.
func Migrate(ctx context.Context, dsn string) error {
	if err := pgdb.Migrate(ctx, dsn, Migrations(), VersionTable); err != nil {
		return fmt.Errorf("api: %w", err)
	}
	return nil
}

// Migrations returns the api package's embedded goose migrations.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(fmt.Sprintf("api: embedded migrations: %v", err)) // the embed pattern guarantees the directory
	}
	return sub
}
