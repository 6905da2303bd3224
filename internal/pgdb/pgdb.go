// Package pgdb bootstraps Postgres for dealcredit: it creates the database
// named in a DSN when it is missing, applies embedded goose migrations under a
// caller-chosen version table, and opens connection pools with sane defaults.
package pgdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// EnsureDatabase creates the database named in dsn when it does not exist.
// It connects to the "postgres" maintenance database of the same server and
// tolerates a concurrent creation of the same database.
func EnsureDatabase(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("pgdb: parse dsn: %w", err)
	}
	name := cfg.Database
	if name == "" {
		return errors.New("pgdb: dsn names no database")
	}
	admin := cfg.Copy()
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("pgdb: connect to maintenance database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("pgdb: look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		var pgErr *pgconn.PgError
		// 42P04 duplicate_database: another process won the race; 23505 can
		// surface from pg_database's unique index in the same race.
		if errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505") {
			return nil
		}
		return fmt.Errorf("pgdb: create database %s: %w", name, err)
	}
	return nil
}

// Migrate applies the *.sql goose migrations found at the root of migrations
// to the database named in dsn, recording applied versions in versionTable.
// Each package that owns tables embeds its own migrations and uses its own
// version table. Concurrent migrators of the same version table are
// serialized by a Postgres session advisory lock.
func Migrate(ctx context.Context, dsn string, migrations fs.FS, versionTable string) error {
	if versionTable == "" {
		return errors.New("pgdb: empty version table")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("pgdb: parse dsn: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	db.SetMaxOpenConns(2)
	return migrateDB(ctx, db, migrations, versionTable)
}

func migrateDB(ctx context.Context, db *sql.DB, migrations fs.FS, versionTable string) error {
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(LockID("goose:"+versionTable)),
		lock.WithLockTimeout(1, 300), // poll every second, give up after 5 minutes
	)
	if err != nil {
		return fmt.Errorf("pgdb: migration locker: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations,
		goose.WithTableName(versionTable),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("pgdb: migrations for %s: %w", versionTable, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("pgdb: migrate %s: %w", versionTable, err)
	}
	return nil
}

// LockID derives a stable advisory-lock key from name, so independent users
// of advisory locks do not collide by accident.
func LockID(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64() &^ (1 << 63))
}

// OpenPool opens a pgx pool for dsn with dealcredit's defaults (unless the DSN
// sets them): 16 connections, connections recycled
// after an hour, health-checked every 30 s. It pings once before returning.
func OpenPool(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgdb: parse dsn: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = 16
	}
	cfg.MaxConnLifetime = time.Hour
	cfg.HealthCheckPeriod = 30 * time.Second
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgdb: open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgdb: ping: %w", err)
	}
	return pool, nil
}
