package pgstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/eventstore"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/pgdb"
	"dealcredit/internal/pgtest"
)

// mustDatabase returns the DSN of a fresh, migrated database.
func mustDatabase(tb testing.TB) string {
	tb.Helper()
	dsn := pgtest.NewDatabase(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pgstore.Migrate(ctx, dsn); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return dsn
}

// mustPool opens a pool closed at cleanup.
func mustPool(tb testing.TB, dsn string) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgdb.OpenPool(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("open pool: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// mustStore opens a Store on pool closed at cleanup (before the pool).
func mustStore(tb testing.TB, pool *pgxpool.Pool, opts pgstore.Options) *pgstore.Store {
	tb.Helper()
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	s, err := pgstore.New(pool, opts)
	if err != nil {
		tb.Fatalf("new store: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

func event(typ string, data string) eventstore.Event {
	return eventstore.Event{ID: uuid.New(), Type: typ, SchemaVersion: 1, Data: []byte(data)}
}

func numbered(n int) eventstore.Event {
	return event("test.numbered", fmt.Sprintf(`{"n":%d}`, n))
}
