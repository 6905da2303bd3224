package pgstore

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// VersionTable is the goose version table of the event log's migrations.
const VersionTable = "eventstore_migrations"

// Migrations returns the event log's embedded goose migrations; pgdb.Migrate
// applies them under VersionTable (cmd/dealcreditd/dbsetup does, for the
// daemon and dealcredit migrate, and internal/testkit/logtest for tests).
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(fmt.Sprintf("pgstore: embedded migrations: %v", err))
	}
	return sub
}
