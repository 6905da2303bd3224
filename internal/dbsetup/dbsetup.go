// Package dbsetup creates dealcredit's database and applies every package's
// embedded migrations, in dependency order. The daemon runs it at start and
// `dealcredit migrate` on demand; concurrent runs are serialised by goose's
// Postgres session lock.
package dbsetup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"dealcredit/api"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/pgdb"
)

// Set is one package's migrations and the goose table that records them.
type Set struct {
	Name         string
	Files        fs.FS
	VersionTable string
}

// Sets lists every package's migrations in the order they are applied.
func Sets() []Set {
	return []Set{
		{"event log", pgstore.Migrations(), pgstore.VersionTable},
		{"api", api.Migrations(), api.VersionTable},
	}
}

// Up creates the database named in dsn if it is missing and migrates it.
func Up(ctx context.Context, dsn string) error {
	if err := pgdb.EnsureDatabase(ctx, dsn); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	for _, s := range Sets() {
		if err := pgdb.Migrate(ctx, dsn, s.Files, s.VersionTable); err != nil {
			return fmt.Errorf("migrate %s: %w", s.Name, err)
		}
	}
	return nil
}

// Querier is what Check needs of a connection or pool.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Check returns an error naming the first set whose newest embedded
// migration is not applied in the database (for /readyz).
func Check(ctx context.Context, q Querier) error {
	for _, s := range Sets() {
		want, err := newest(s.Files)
		if err != nil {
			return fmt.Errorf("%s migrations: %w", s.Name, err)
		}
		got, err := applied(ctx, q, s)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
			return fmt.Errorf("%s migrations not applied", s.Name)
		}
		if err != nil {
			return fmt.Errorf("%s migrations: %w", s.Name, err)
		}
		if got < want {
			return fmt.Errorf("%s migrations at version %d, binary needs %d", s.Name, got, want)
		}
	}
	return nil
}

// newest is the highest goose version (the numeric file name prefix) in files.
func newest(files fs.FS) (int64, error) {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return 0, err
	}
	var top int64
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		if !ok || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		v, err := strconv.ParseInt(prefix, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("migration %s: version prefix: %w", e.Name(), err)
		}
		top = max(top, v)
	}
	return top, nil
}
