package pgstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"dealcredit/eventstore"
	"dealcredit/eventstore/pgstore"
	"dealcredit/eventstore/storetest"
	"dealcredit/internal/testkit/pgtest"
)

// isolationDefaults are the server or role defaults an operator may set;
// every path that writes must keep its guarantees under each of them.
var isolationDefaults = []string{"repeatable read", "serializable"}

// databaseWithIsolation returns a migrated database whose sessions start
// with default_transaction_isolation = level.
func databaseWithIsolation(tb testing.TB, level string) string {
	tb.Helper()
	dsn := mustDatabase(tb)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pgtest.AdminURL())
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{cfg.Database}.Sanitize()+
		" SET default_transaction_isolation = '"+level+"'"); err != nil {
		tb.Fatal(err)
	}
	return dsn
}

// TestConformanceUnderDefaultIsolation runs the conformance suite (both
// write paths) and the gap-free follower test (with transactions held open
// and without, so both fast paths run) against databases whose default
// isolation is not read committed.
func TestConformanceUnderDefaultIsolation(t *testing.T) {
	t.Parallel()
	for _, level := range isolationDefaults {
		t.Run(level, func(t *testing.T) {
			t.Parallel()
			t.Run("isolation is set", func(t *testing.T) {
				pool := mustPool(t, databaseWithIsolation(t, level))
				var got string
				if err := pool.QueryRow(context.Background(), "SHOW transaction_isolation").Scan(&got); err != nil || got != level {
					t.Fatalf("transaction_isolation = %q, %v; want %q", got, err, level)
				}
			})
			t.Run("conformance", func(t *testing.T) {
				storetest.Run(t, func(t *testing.T) eventstore.Store {
					return mustStore(t, mustPool(t, databaseWithIsolation(t, level)), pgstore.Options{})
				})
			})
			t.Run("conformance copy", func(t *testing.T) {
				storetest.Run(t, func(t *testing.T) eventstore.Store {
					s := mustStore(t, mustPool(t, databaseWithIsolation(t, level)), pgstore.Options{})
					pgstore.SetCopyMin(s, 1)
					return s
				})
			})
			t.Run("gap-free follower", func(t *testing.T) {
				gapFreeFollower(t, databaseWithIsolation(t, level), true)
			})
			t.Run("gap-free follower, no transaction held", func(t *testing.T) {
				gapFreeFollower(t, databaseWithIsolation(t, level), false)
			})
		})
	}
}

// isolationLevels are read committed (Postgres' default) and the defaults
// of isolationDefaults.
var isolationLevels = append([]string{"read committed"}, isolationDefaults...)

// waitForAdvisoryWaiter waits until a session of pool's database waits for
// an advisory lock (polling pg_locks, with a deadline).
func waitForAdvisoryWaiter(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting bool
		if err := pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			return
		}
		if time.Now().After(deadline) {
			rows, _ := pool.Query(context.Background(), `SELECT locktype || ' ' || coalesce(relation::regclass::text, '') || ' ' || mode || ' ' || granted::text FROM pg_locks`)
			locks, _ := pgx.CollectRows(rows, pgx.RowTo[string])
			t.Fatalf("nobody waits for the append lock: %v", locks)
		}
		time.Sleep(time.Millisecond) // polling pg_locks, with a deadline
	}
}

// The fast path's INSERT must judge the head by what committed before it
// got the append lock: a tail deleted by the lock's holder (here a
// superuser's tampering, committed while the append waits for the lock) is
// gone for it, so it appends after the log's real head instead of leaving a
// gap. Under repeatable read or serializable an implicit transaction's
// snapshot is taken before the lock is granted.
func TestFastPathSeesWhatCommittedBeforeItsLock(t *testing.T) {
	t.Parallel()
	for _, level := range isolationLevels {
		t.Run(level, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := mustPool(t, databaseWithIsolation(t, level))
			s := mustStore(t, pool, pgstore.Options{})
			for i := range 3 {
				if _, err := s.Append(ctx, "iso", eventstore.Any, numbered(i)); err != nil {
					t.Fatal(err)
				}
			}
			tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx) //nolint:errcheck // committed below
			for _, q := range []string{`SELECT pg_advisory_xact_lock(` + strconv.FormatInt(pgstore.AppendLockID, 10) + `)`,
				// Past the append-only trigger without a table lock, which
				// would hold the append up before its snapshot.
				`SET LOCAL session_replication_role = replica`, `DELETE FROM events WHERE position = 3`} {
				if _, err := tx.Exec(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			appended := make(chan error, 1)
			var pos int64
			go func() {
				res, err := s.Append(ctx, "other", eventstore.Any, numbered(9))
				if err == nil {
					pos = res.Records[0].Position
				}
				appended <- err
			}()
			waitForAdvisoryWaiter(t, pool)
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-appended; err != nil {
				t.Fatal(err)
			}
			if pos != 3 {
				t.Errorf("appended at %d after the tail at 3 was deleted, want 3", pos)
			}
			recs, err := s.ReadAll(ctx, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range recs {
				if r.Position != int64(i+1) {
					t.Fatalf("the log has a gap: position %d at index %d", r.Position, i)
				}
			}
		})
	}
}

// A batch whose commit answer was lost is resolved by reading its ids back
// after taking the append lock, so the lost transaction has ended: what it
// committed while the reader waited for the lock must count.
func TestResolveCommitSeesWhatCommittedWhileItWaited(t *testing.T) {
	t.Parallel()
	for _, level := range isolationLevels {
		t.Run(level, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := databaseWithIsolation(t, level)
			writer := mustStore(t, mustPool(t, dsn), pgstore.Options{})
			entered, release := make(chan struct{}), make(chan struct{})
			pgstore.SetBeforeCommit(writer, func() { close(entered); <-release })
			ev := numbered(1)
			appended := make(chan error, 1)
			go func() {
				_, err := writer.Append(ctx, "lost", eventstore.Any, ev)
				appended <- err
			}()
			<-entered // the batch holds the append lock, its rows inserted, not committed
			pool := mustPool(t, dsn)
			resolver := mustStore(t, pool, pgstore.Options{})
			type outcome struct {
				ok  bool
				err error
			}
			resolved := make(chan outcome, 1)
			go func() {
				ok, err := pgstore.ResolveCommit(resolver, []eventstore.Record{{ID: ev.ID, Position: 1}})
				resolved <- outcome{ok, err}
			}()
			waitForAdvisoryWaiter(t, pool)
			close(release)
			if err := <-appended; err != nil {
				t.Fatal(err)
			}
			if o := <-resolved; o.err != nil || !o.ok {
				t.Fatalf("resolved a committed batch as committed=%v (%v), want true", o.ok, o.err)
			}
		})
	}
}
