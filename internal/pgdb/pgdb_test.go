package pgdb_test

import (
	"context"
	"net/url"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"dealcredit/internal/pgdb"
	"dealcredit/internal/testkit/pgtest"
)

func TestEnsureAndMigrateConcurrently(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A database that does not exist yet: derive a name from a fresh one
	// and drop nothing we did not create.
	base := pgtest.NewDatabase(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path += "_x"
	dsn := u.String()
	t.Cleanup(func() {
		admin, err := pgdb.OpenPool(context.Background(), pgtest.AdminURL())
		if err == nil {
			admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+u.Path[1:]+" WITH (FORCE)") //nolint:errcheck
			admin.Close()
		}
	})
	fsys := fstest.MapFS{"00001_t.sql": {Data: []byte("-- +goose Up\nCREATE TABLE t (id int PRIMARY KEY);\nINSERT INTO t VALUES (1);\n")}}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			if err := pgdb.EnsureDatabase(ctx, dsn); err != nil {
				errs[i] = err
				return
			}
			errs[i] = pgdb.Migrate(ctx, dsn, fsys, "t_migrations")
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent ensure+migrate: %v", err)
		}
	}
	pool, err := pgdb.OpenPool(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("migration applied %d times (%v), want once", n, err)
	}
}
