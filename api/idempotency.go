package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// maxIdempotencyKey is the longest Idempotency-Key accepted.
const maxIdempotencyKey = 255

// idempotent wraps a creating POST: with an Idempotency-Key header the first
// answer (status, content type, position header, body) is stored in Postgres
// and a retry with the same key and the same request gets it back byte for
// byte. The same key with a different request is refused (422); a retry
// while the first request is still running gets 409.
func idempotent(pool *pgxpool.Pool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if key == "" || pool == nil {
			next.ServeHTTP(w, r)
			return
		}
		if len(key) > maxIdempotencyKey {
			writeProblem(w, classify(errorf(CodeInvalid, "Idempotency-Key", "must be at most %d characters", maxIdempotencyKey)))
			return
		}
		body, err := readBody(w, r)
		if err != nil {
			writeProblem(w, classify(err))
			return
		}
		h := sha256.New()
		h.Write([]byte(r.Method + " " + r.URL.Path + "\n"))
		h.Write(body)
		sum := h.Sum(nil)
		subject := principalFrom(r.Context()).Subject
		ctx := r.Context()

		tag, err := pool.Exec(ctx, `INSERT INTO api_idempotency (subject, key, method, path, request_hash)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, subject, key, r.Method, r.URL.Path, sum)
		if err != nil {
			writeProblem(w, classify(fmt.Errorf("idempotency reserve: %w", err)))
			return
		}
		if tag.RowsAffected() == 0 {
			replay(ctx, pool, w, subject, key, sum)
			return
		}
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		r.Body = nopCloser{bytes.NewReader(body)}
		completed := false
		defer func() {
			if completed {
				return
			}
			// The handler failed (5xx, panic) or conflicted: forget the key so a retry runs again.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_, _ = pool.Exec(cctx, `DELETE FROM api_idempotency WHERE subject = $1 AND key = $2 AND status = 0`, subject, key)
		}()
		next.ServeHTTP(rec, r)
		if rec.status >= 500 || rec.status == http.StatusConflict || rec.status == http.StatusTooManyRequests {
			// Not an answer to keep: a server failure, or a conflict that a
			// retry may resolve (e.g. a stream changed concurrently); the
			// deferred cleanup forgets the key so the retry runs again.
			return
		}
		pos, _ := strconv.ParseInt(rec.Header().Get(PositionHeader), 10, 64)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := pool.Exec(cctx, `UPDATE api_idempotency SET status = $3, content_type = $4, position = $5, body = $6
			WHERE subject = $1 AND key = $2`, subject, key, rec.status, rec.Header().Get("Content-Type"), pos, rec.buf.Bytes()); err == nil {
			completed = true
		}
	})
}

func replay(ctx context.Context, pool *pgxpool.Pool, w http.ResponseWriter, subject, key string, sum []byte) {
	var (
		hash        []byte
		status      int
		contentType string
		pos         int64
		body        []byte
	)
	err := pool.QueryRow(ctx, `SELECT request_hash, status, content_type, position, body FROM api_idempotency
		WHERE subject = $1 AND key = $2`, subject, key).Scan(&hash, &status, &contentType, &pos, &body)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// The first attempt failed and released the key in between: ask for a retry.
		writeProblem(w, classify(errorf(CodeIdempotencyUse, "Idempotency-Key", "a request with this key just failed; retry")))
		return
	case err != nil:
		writeProblem(w, classify(fmt.Errorf("idempotency lookup: %w", err)))
		return
	case !bytes.Equal(hash, sum):
		writeProblem(w, classify(&Error{Code: CodeUnprocessable, Field: "Idempotency-Key", Rule: "idempotency_key_reused",
			Message: "this key was already used for a different request"}))
		return
	case status == 0:
		writeProblem(w, classify(errorf(CodeIdempotencyUse, "Idempotency-Key", "a request with this key is still in progress; retry later")))
		return
	}
	if contentType != "" {
		w.Header().Set("Content-Type", contentType)
	}
	if pos > 0 {
		w.Header().Set(PositionHeader, strconv.FormatInt(pos, 10))
	}
	w.Header().Set("Idempotent-Replayed", "true")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// recorder passes a response through and keeps a copy of it.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
	buf    bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	r.wrote = true
	r.buf.Write(p)
	return r.ResponseWriter.Write(p)
}
