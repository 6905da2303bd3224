// Package dbsetup creates dealcredit's database and applies every package's
// embedded migrations, in dependency order. The daemon runs it at start and
// `dealcredit migrate` on demand; concurrent runs are serialised by goose's
// Postgres session lock.
package dbsetup

import (
	"context"
	"embed"
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

//go:embed migrations/*.sql
var roleFiles embed.FS

// RoleVersionTable is the goose version table of the database roles' grants.
const RoleVersionTable = "dbsetup_role_migrations"

// roleMigrations creates config.AppRole and grants it what the daemon needs
// on every other set's tables, so it runs last.
func roleMigrations() fs.FS {
	sub, err := fs.Sub(roleFiles, "migrations")
	if err != nil {
		panic(fmt.Sprintf("dbsetup: embedded migrations: %v", err)) // the embed pattern guarantees the directory
	}
	return sub
}

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
		{"roles", roleMigrations(), RoleVersionTable},
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

// EnsureLogin makes appDSN's password work for its role when that role is
// role (the app role the migrations create without a password): if logging
// in with it fails authentication, the owner (ownerDSN) sets it. So one
// secret, DATABASE_URL, provisions the app role's password. Other roles,
// a DSN without a password and other connection errors are left alone
// (opening the pool reports them).
func EnsureLogin(ctx context.Context, ownerDSN, appDSN, role string) error {
	cfg, err := pgx.ParseConfig(appDSN)
	if err != nil {
		return fmt.Errorf("parse dsn: %w", err)
	}
	if cfg.User != role || cfg.Password == "" {
		return nil
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	var pgErr *pgconn.PgError
	if err == nil || !errors.As(err, &pgErr) || (pgErr.Code != "28P01" && pgErr.Code != "28000") { // invalid_password, invalid_authorization_specification
		if conn != nil {
			conn.Close(ctx)
		}
		return nil
	}
	owner, err := pgx.Connect(ctx, ownerDSN)
	if err != nil {
		return fmt.Errorf("connect as owner to set %s's password: %w", role, err)
	}
	defer owner.Close(context.WithoutCancel(ctx))
	pw, err := owner.PgConn().EscapeString(cfg.Password)
	if err != nil {
		return fmt.Errorf("set %s's password: %w", role, err)
	}
	if _, err := owner.Exec(ctx, "ALTER ROLE "+pgx.Identifier{role}.Sanitize()+" PASSWORD '"+pw+"'"); err != nil {
		return fmt.Errorf("set %s's password (the owner needs CREATEROLE, or set it as a DBA): %w", role, err)
	}
	return nil
}

// CheckRole returns an error unless the connection's role is unable to
// change history: it must not be a superuser, must not own events (or be a
// member of its owner) and must not hold UPDATE, DELETE, TRUNCATE or
// TRIGGER on it. The daemon refuses to serve otherwise.
func CheckRole(ctx context.Context, q Querier) error {
	var (
		role      string
		super     bool
		owner     bool
		privilege bool
	)
	err := q.QueryRow(ctx, `SELECT current_user, r.rolsuper,
			pg_has_role(current_user, c.relowner, 'USAGE'),
			has_table_privilege(c.oid, 'UPDATE, DELETE, TRUNCATE, TRIGGER')
		FROM pg_roles r, pg_class c
		WHERE r.rolname = current_user AND c.oid = 'events'::regclass`).Scan(&role, &super, &owner, &privilege)
	if err != nil {
		return fmt.Errorf("database role: %w", err)
	}
	switch {
	case super:
		return fmt.Errorf("database role %s is a superuser and could rewrite the event log", role)
	case owner:
		return fmt.Errorf("database role %s owns the events table and could rewrite the event log", role)
	case privilege:
		return fmt.Errorf("database role %s may change or remove events (UPDATE, DELETE, TRUNCATE or TRIGGER granted)", role)
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
