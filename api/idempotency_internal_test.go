package api

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"dealcredit/internal/pgdb"
	"dealcredit/internal/testkit/pgtest"
)

// TestIdempotencyForgetsConflicts: an answer that a retry may change (409)
// is not stored, so the retry runs again; a success is stored and replayed.
func TestIdempotencyForgetsConflicts(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	if err := pgdb.Migrate(ctx, dsn, Migrations(), VersionTable); err != nil {
		t.Fatal(err)
	}
	pool, err := pgdb.OpenPool(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	calls := 0
	h := idempotent(pool, time.Minute, slog.New(slog.DiscardHandler), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusConflict) // e.g. a stream changed concurrently
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"n":` + string(rune('0'+calls)) + `}`))
	}))
	post := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/v1/deals", strings.NewReader(`{}`))
		r.Header.Set("Idempotency-Key", "k")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := post(); w.Code != http.StatusConflict {
		t.Fatalf("first = %d, want 409", w.Code)
	}
	second := post()
	if second.Code != http.StatusCreated || calls != 2 {
		t.Fatalf("retry after a 409 = %d after %d calls, want 201 from a second run", second.Code, calls)
	}
	third := post()
	if third.Code != http.StatusCreated || calls != 2 || third.Body.String() != second.Body.String() {
		t.Fatalf("retry after a 201 = %d %q after %d calls, want the stored answer", third.Code, third.Body, calls)
	}
}

// TestIdempotencyLease: a key left in flight by a request that died is
// taken over by a retry with the same request once its lease ran out, and
// only then; a different request under that key is still refused.
func TestIdempotencyLease(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	if err := pgdb.Migrate(ctx, dsn, Migrations(), VersionTable); err != nil {
		t.Fatal(err)
	}
	pool, err := pgdb.OpenPool(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	calls := 0
	h := idempotent(pool, time.Minute, slog.New(slog.DiscardHandler), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.WriteHeader(http.StatusCreated)
	}))
	post := func(key, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/v1/deals", strings.NewReader(body))
		r.Header.Set("Idempotency-Key", key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	// A request that died holding its key: reserved (by the first POST's
	// reservation shape), never answered.
	died := func(key, lease string) {
		t.Helper()
		sum := sha256.Sum256([]byte("POST /v1/deals\n{}"))
		if _, err := pool.Exec(ctx, `INSERT INTO api_idempotency (subject, key, method, path, request_hash, owner, lease_until)
			VALUES ('', $1, 'POST', '/v1/deals', $2, gen_random_uuid(), now() + $3::interval)`, key, sum[:], lease); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, lease, body string
		want, calls       int
	}{
		{"lease running", "1 minute", "{}", http.StatusConflict, 0},
		{"lease expired", "-1 second", "{}", http.StatusCreated, 1},
		{"lease expired, another request", "-1 second", `{"x":1}`, http.StatusUnprocessableEntity, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "k" + string(rune('0'+i))
			died(key, tt.lease)
			calls = 0
			w := post(key, tt.body)
			if w.Code != tt.want || calls != tt.calls {
				t.Fatalf("retry = %d after %d runs, want %d after %d: %s", w.Code, calls, tt.want, tt.calls, w.Body)
			}
			if tt.want == http.StatusConflict && w.Header().Get("Retry-After") == "" {
				t.Fatalf("409 without Retry-After")
			}
		})
	}
}
