package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"dealcredit/internal/pgdb"
	"dealcredit/internal/pgtest"
)

// TestIdempotencyForgetsConflicts: an answer that a retry may change (409)
// is not stored, so the retry runs again; a success is stored and replayed.
func TestIdempotencyForgetsConflicts(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	if err := Migrate(ctx, dsn); err != nil {
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
