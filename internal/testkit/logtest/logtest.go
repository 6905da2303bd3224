// Package logtest gives tests a real, migrated Postgres event log in a fresh
// database (see pgtest), closed and dropped when the test ends.
package logtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/pgdb"
	"dealcredit/internal/testkit/pgtest"
)

// Log is a migrated event log for one test.
type Log struct {
	DSN   string
	Pool  *pgxpool.Pool
	Store *pgstore.Store
}

// New creates a fresh database, migrates the event log into it and opens a
// pool and a Store on it; everything is closed in tb.Cleanup.
func New(tb testing.TB) *Log {
	tb.Helper()
	dsn := MigratedDatabase(tb)
	pool := OpenPool(tb, dsn)
	return &Log{DSN: dsn, Pool: pool, Store: OpenStore(tb, pool, pgstore.Options{})}
}

// MigratedDatabase creates a fresh database with the event log migrated
// into it and returns its DSN; it is dropped in tb.Cleanup.
func MigratedDatabase(tb testing.TB) string {
	tb.Helper()
	dsn := pgtest.NewDatabase(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pgdb.Migrate(ctx, dsn, pgstore.Migrations(), pgstore.VersionTable); err != nil {
		tb.Fatalf("logtest: migrate: %v", err)
	}
	return dsn
}

// OpenPool opens a pool on dsn, closed in tb.Cleanup (several pools on one
// database stand for several processes).
func OpenPool(tb testing.TB, dsn string) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgdb.OpenPool(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("logtest: open pool: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// OpenStore opens a Store on pool, closed in tb.Cleanup before the pool. A
// nil opts.Registerer gets a fresh registry, so metrics are exercised.
func OpenStore(tb testing.TB, pool *pgxpool.Pool, opts pgstore.Options) *pgstore.Store {
	tb.Helper()
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	s, err := pgstore.New(pool, opts)
	if err != nil {
		tb.Fatalf("logtest: new store: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}
