package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"dealcredit/api"
	"dealcredit/eventstore"
	"dealcredit/internal/testkit/pgtest"
)

// pausedStore is the real event log with a switch: while armed, the next
// AppendAtomic signals entered and waits for release before it runs, so a
// test can cut the database while a request holds its Idempotency-Key.
type pausedStore struct {
	eventstore.Store
	mu      sync.Mutex
	armed   bool
	entered chan struct{}
	release chan struct{}
}

func (p *pausedStore) arm() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed, p.entered, p.release = true, make(chan struct{}), make(chan struct{})
}

func (p *pausedStore) AppendAtomic(ctx context.Context, reqs ...eventstore.AppendRequest) ([]eventstore.AppendResult, error) {
	p.mu.Lock()
	armed, entered, release := p.armed, p.entered, p.release
	p.armed = false
	p.mu.Unlock()
	if armed {
		close(entered)
		<-release
	}
	return p.Store.AppendAtomic(ctx, reqs...)
}

// outage makes the test database unavailable: no new connections and every
// open one terminated. The returned function brings it back.
func outage(tb testing.TB, pool *pgxpool.Pool) (restore func()) {
	tb.Helper()
	ctx := context.Background()
	name := pool.Config().ConnConfig.Database
	admin, err := pgx.Connect(ctx, pgtest.AdminURL())
	if err != nil {
		tb.Fatal(err)
	}
	db := pgx.Identifier{name}.Sanitize()
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+db+" ALLOW_CONNECTIONS false"); err != nil {
		tb.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name); err != nil {
		tb.Fatal(err)
	}
	restored := false
	restore = func() {
		if restored {
			return
		}
		restored = true
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "ALTER DATABASE "+db+" ALLOW_CONNECTIONS true"); err != nil {
			tb.Error(err)
		}
	}
	tb.Cleanup(restore) // the database must accept connections to be dropped
	return restore
}

// isUnavailable checks a 503 problem+json naming the database, with Retry-After.
func isUnavailable(tb testing.TB, what string, r response) {
	tb.Helper()
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" ||
		r.Header.Get("Content-Type") != "application/problem+json" || !bytes.Contains(r.Body, []byte("database")) {
		tb.Errorf("%s during a database outage = %d Retry-After %q %s, want 503 problem+json naming the database with Retry-After",
			what, r.Status, r.Header.Get("Retry-After"), r.Body)
	}
}

// TestDatabaseOutageIs503 (issue 11, finding 7): with the database gone,
// reads, commands and idempotent commands answer 503 with a problem body and
// Retry-After, not 500; when it is back they succeed again.
func TestDatabaseOutageIs503(t *testing.T) {
	var pool *pgxpool.Pool
	a := mustAPI(t, func(d *api.Deps) { pool = d.Pool })
	a.seed(t)

	restore := outage(t, pool)
	isUnavailable(t, "GET /v1/events", a.do(t, "GET", "/v1/events?after=0&limit=10", tokAuditor, nil))
	isUnavailable(t, "POST /v1/partners", a.do(t, "POST", "/v1/partners", tokCM, map[string]any{"id": "var-c", "name": "VAR C", "kind": "var", "geography": "us-west"}))
	isUnavailable(t, "POST /v1/deals with Idempotency-Key", a.do(t, "POST", "/v1/deals", tokVarA, dealBody("var-a", "Outage Corp"), "Idempotency-Key", "outage-1"))
	restore()

	a.must(t, 200, "GET", "/v1/events?after=0&limit=10", tokAuditor, nil)
	a.must(t, 201, "POST", "/v1/partners", tokCM, map[string]any{"id": "var-c", "name": "VAR C", "kind": "var", "geography": "us-west"})
	if r := a.do(t, "POST", "/v1/deals", tokVarA, dealBody("var-a", "Outage Corp"), "Idempotency-Key", "outage-1"); r.Status != 201 {
		t.Fatalf("POST /v1/deals after the outage = %d %s", r.Status, r.Body)
	}
}

// TestIdempotencyKeyReleasedAfterConnectionCut (issue 11, finding 5): a
// deal registration holding its Idempotency-Key loses the database mid-
// request (every connection terminated, none accepted), so neither the
// append nor the key's release can run. Once the database is back, a retry
// with the same key runs (after the lease at most) and the deal is in the
// log exactly once; a further retry replays that answer.
func TestIdempotencyKeyReleasedAfterConnectionCut(t *testing.T) {
	var (
		pool   *pgxpool.Pool
		paused = &pausedStore{}
	)
	const lease = 2 * time.Second
	a := mustAPI(t, func(d *api.Deps) {
		pool, paused.Store, d.Store, d.IdempotencyLease = d.Pool, d.Store, paused, lease
	})
	a.seed(t)

	body := dealBody("var-a", "Cut Corp")
	paused.arm()
	first := make(chan response, 1)
	go func() { first <- a.do(t, "POST", "/v1/deals", tokVarA, body, "Idempotency-Key", "cut-1") }()
	<-paused.entered // the key is reserved, the append not yet sent
	restore := outage(t, pool)
	close(paused.release)
	r := <-first
	isUnavailable(t, "the cut request", r)
	restore()

	deadline := time.Now().Add(lease + 10*time.Second)
	for {
		r = a.do(t, "POST", "/v1/deals", tokVarA, body, "Idempotency-Key", "cut-1")
		if r.Status != http.StatusConflict || time.Now().After(deadline) {
			break
		}
		if r.Header.Get("Retry-After") == "" {
			t.Fatalf("409 in progress without Retry-After: %s", r.Body)
		}
		time.Sleep(100 * time.Millisecond) // poll interval, bounded by the deadline
	}
	if r.Status != http.StatusCreated {
		t.Fatalf("retry after the cut = %d %s, want 201 (the key must not stick)", r.Status, r.Body)
	}
	if !strings.Contains(a.Logs.String(), "took over an Idempotency-Key") {
		t.Errorf("the retry's take-over of the dead request's key is not logged:\n%s", a.Logs.String())
	}
	dealID, _ := r.json(t)["deal_id"].(string)
	again := a.do(t, "POST", "/v1/deals", tokVarA, body, "Idempotency-Key", "cut-1")
	if again.Status != http.StatusCreated || again.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(again.Body, r.Body) {
		t.Fatalf("second retry = %d %s, want the stored 201 replayed", again.Status, again.Body)
	}

	var n int
	if err := pool.QueryRow(context.Background(),
		`SELECT count(*) FROM events WHERE type = 'deal.registered' AND data::jsonb #>> '{customer,name}' = 'Cut Corp'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("Cut Corp registered %d times, want exactly once (deal %s)", n, dealID)
	}
}

// TestIdempotencyRetryAfterIsTheLease: a retry while the first request runs
// gets 409 with a Retry-After no longer than the key's lease.
func TestIdempotencyRetryAfterIsTheLease(t *testing.T) {
	paused := &pausedStore{}
	a := mustAPI(t, func(d *api.Deps) { paused.Store, d.Store, d.IdempotencyLease = d.Store, paused, 4*time.Second })
	a.seed(t)
	body := dealBody("var-a", "Busy Corp")
	paused.arm()
	first := make(chan response, 1)
	go func() { first <- a.do(t, "POST", "/v1/deals", tokVarA, body, "Idempotency-Key", "busy-1") }()
	<-paused.entered
	r := a.do(t, "POST", "/v1/deals", tokVarA, body, "Idempotency-Key", "busy-1")
	close(paused.release)
	if r.Status != http.StatusConflict || !strings.Contains(string(r.Body), "in progress") {
		t.Fatalf("retry while running = %d %s, want 409 in progress", r.Status, r.Body)
	}
	var p struct{ Type string }
	_ = json.Unmarshal(r.Body, &p)
	if ra := r.Header.Get("Retry-After"); ra == "" || ra > "4" || p.Type != "urn:dealcredit:problem:idempotency_key_in_use" {
		t.Fatalf("409 Retry-After %q type %q, want 1..4 and idempotency_key_in_use", ra, p.Type)
	}
	if f := <-first; f.Status != http.StatusCreated {
		t.Fatalf("first = %d %s", f.Status, f.Body)
	}
}
