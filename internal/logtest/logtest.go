// Package logtest gives tests a real, migrated Postgres event log in a fresh
// database (see pgtest), closed and dropped when the test ends.
package logtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/pgdb"
	"dealcredit/internal/pgtest"
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
	dsn := pgtest.NewDatabase(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pgstore.Migrate(ctx, dsn); err != nil {
		tb.Fatalf("logtest: migrate: %v", err)
	}
	pool, err := pgdb.OpenPool(ctx, dsn)
	if err != nil {
		tb.Fatalf("logtest: open pool: %v", err)
	}
	tb.Cleanup(pool.Close)
	store, err := pgstore.New(pool, pgstore.Options{})
	if err != nil {
		tb.Fatalf("logtest: new store: %v", err)
	}
	tb.Cleanup(store.Close)
	return &Log{DSN: dsn, Pool: pool, Store: store}
}
