package pgstore_test

import (
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"dealcredit/eventstore"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/testkit/logtest"
)

// mustDatabase, mustPool and mustStore give each test a real event log.
func mustDatabase(tb testing.TB) string { return logtest.MigratedDatabase(tb) }

func mustPool(tb testing.TB, dsn string) *pgxpool.Pool { return logtest.OpenPool(tb, dsn) }

func mustStore(tb testing.TB, pool *pgxpool.Pool, opts pgstore.Options) *pgstore.Store {
	return logtest.OpenStore(tb, pool, opts)
}

func event(typ string, data string) eventstore.Event {
	return eventstore.Event{ID: uuid.New(), Type: typ, SchemaVersion: 1, Data: []byte(data)}
}

func numbered(n int) eventstore.Event {
	return event("test.numbered", fmt.Sprintf(`{"n":%d}`, n))
}
