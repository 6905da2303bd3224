package api

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// VersionTable is the goose version table of the api package's own tables.
const VersionTable = "api_goose_version"

// Migrations returns the api package's embedded goose migrations (the
// idempotency store); pgdb.Migrate applies them under VersionTable.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(fmt.Sprintf("api: embedded migrations: %v", err)) // the embed pattern guarantees the directory
	}
	return sub
}
