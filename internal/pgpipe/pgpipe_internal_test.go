package pgpipe

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"dealcredit/internal/testkit/pgtest"
)

// The tests run with one pipeline in flight, held by a query that waits for
// an advisory lock the test holds: the queries queued meanwhile go out
// together when the test releases it.
const lockKey = 7716

func mustPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// holdLock takes the advisory lock on a connection of its own and returns
// its release.
func holdLock(t *testing.T, pool *pgxpool.Pool) func() {
	t.Helper()
	conn, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", lockKey); err != nil {
			t.Error(err)
		}
		conn.Release()
	}
}

// result is one query's answer.
type result struct {
	n   int64
	at  time.Time // transaction_timestamp(): the same for the statements of one pipeline
	err error
	got int // rows read
}

// query runs "SELECT $1::bigint (or sql), transaction_timestamp()" through p
// on a goroutine and returns the channel of its result.
func query(ctx context.Context, p *Pipe, sql string, n int64) <-chan result {
	out := make(chan result, 1)
	go func() {
		var r result
		r.err = p.Query(ctx, sql, []any{n}, func(rows pgx.Rows) error {
			for rows.Next() {
				r.got++
				if err := rows.Scan(&r.n, &r.at); err != nil {
					return err
				}
			}
			return nil
		})
		out <- r
	}()
	return out
}

// waitQueued waits until n queries are queued behind the running one.
func waitQueued(t *testing.T, p *Pipe, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		q := len(p.queue)
		p.mu.Unlock()
		if q == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d queries queued, want %d", q, n)
		}
		time.Sleep(time.Millisecond) // polling the queue's length, with a deadline
	}
}

const plain = "SELECT $1::bigint, transaction_timestamp()"

// blocked starts a query that holds p's only pipeline until release.
func blocked(t *testing.T, pool *pgxpool.Pool, p *Pipe) (<-chan result, func()) {
	t.Helper()
	release := holdLock(t, pool)
	first := query(context.Background(), p, "SELECT $1::bigint, transaction_timestamp() FROM (SELECT pg_advisory_xact_lock_shared(7716)) l", 0)
	waitForLockWaiter(t, pool)
	return first, release
}

// waitForLockWaiter waits until a query waits for the test's advisory lock.
func waitForLockWaiter(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting bool
		if err := pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 7716 AND NOT granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no query waits for the lock")
		}
		time.Sleep(time.Millisecond) // polling pg_locks, with a deadline
	}
}

func TestQueuedQueriesGoOutAsOnePipeline(t *testing.T) {
	pool := mustPool(t)
	p := New(pool)
	p.inFlight = 1
	first, release := blocked(t, pool, p)
	var outs []<-chan result
	for i := 1; i <= 5; i++ {
		outs = append(outs, query(context.Background(), p, plain, int64(i)))
		waitQueued(t, p, i)
	}
	release()
	if r := <-first; r.err != nil || r.n != 0 || r.got != 1 {
		t.Fatalf("first query: %+v", r)
	}
	var at time.Time
	for i, out := range outs {
		r := <-out
		if r.err != nil || r.n != int64(i+1) || r.got != 1 {
			t.Fatalf("query %d: %+v, want its own answer %d", i+1, r, i+1)
		}
		if i == 0 {
			at = r.at
		} else if !r.at.Equal(at) {
			t.Errorf("query %d ran in a transaction of its own (%v, first %v): not one pipeline", i+1, r.at, at)
		}
	}
	if p.running != 0 || len(p.queue) != 0 {
		t.Errorf("after the queries: %d running, %d queued", p.running, len(p.queue))
	}
}

func TestAFailingQueryFailsAlone(t *testing.T) {
	pool := mustPool(t)
	p := New(pool)
	p.inFlight = 1
	first, release := blocked(t, pool, p)
	sqls := []string{plain, "SELECT 1 / ($1::bigint - 2), transaction_timestamp()", plain, plain}
	var outs []<-chan result
	for i, sql := range sqls {
		outs = append(outs, query(context.Background(), p, sql, int64(i+1)))
		waitQueued(t, p, i+1)
	}
	release()
	<-first
	for i, out := range outs {
		r := <-out
		if i == 1 {
			var pgErr *pgconn.PgError
			if !errors.As(r.err, &pgErr) || pgErr.Code != "22012" {
				t.Errorf("query 2: err %v, want division_by_zero", r.err)
			}
			continue
		}
		if r.err != nil || r.n != int64(i+1) {
			t.Errorf("query %d: %+v, want its own answer %d", i+1, r, i+1)
		}
	}
}

func TestACancelledQueryIsNotSent(t *testing.T) {
	pool := mustPool(t)
	p := New(pool)
	p.inFlight = 1
	first, release := blocked(t, pool, p)
	ctx, cancel := context.WithCancel(context.Background())
	gone := query(ctx, p, plain, 1)
	waitQueued(t, p, 1)
	kept := query(context.Background(), p, plain, 2)
	waitQueued(t, p, 2)
	cancel()
	release()
	<-first
	if r := <-gone; !errors.Is(r.err, context.Canceled) || r.got != 0 {
		t.Errorf("cancelled query: %+v, want context.Canceled and no row read", r)
	}
	if r := <-kept; r.err != nil || r.n != 2 {
		t.Errorf("the other query: %+v", r)
	}
}

func TestConcurrentQueriesEachGetTheirOwnAnswer(t *testing.T) {
	pool := mustPool(t)
	p := New(pool)
	var wg sync.WaitGroup
	errs := make(chan error, 64*20)
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				want := int64(g*1000 + i)
				r := <-query(context.Background(), p, plain, want)
				if r.err != nil || r.n != want || r.got != 1 {
					errs <- errors.New("a query got another's answer or failed")
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestAStatementThatFailsToPrepareFailsAlone(t *testing.T) {
	pool := mustPool(t)
	p := New(pool)
	p.inFlight = 1
	first, release := blocked(t, pool, p)
	ok := query(context.Background(), p, plain, 1)
	waitQueued(t, p, 1)
	bad := query(context.Background(), p, "SELECT no_such_column + $1::bigint, transaction_timestamp()", 2)
	waitQueued(t, p, 2)
	release()
	<-first
	if r := <-ok; r.err != nil || r.n != 1 {
		t.Errorf("the query before the bad one: %+v, want its own answer", r)
	}
	var pgErr *pgconn.PgError
	if r := <-bad; !errors.As(r.err, &pgErr) || pgErr.Code != "42703" {
		t.Errorf("the bad query: err %v, want undefined_column", r.err)
	}
}
