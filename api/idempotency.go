package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"dealcredit/domain"
)

// maxIdempotencyKey is the longest Idempotency-Key accepted.
const maxIdempotencyKey = 255

// idempotent wraps a creating POST: with an Idempotency-Key header the first
// answer (status, content type, position header, body) is stored in Postgres
// and a retry with the same key and the same request gets it back byte for
// byte. The same key with a different request is refused (422); a retry
// while the first request is still running gets 409 with Retry-After.
//
// A running request owns its key for lease (an owner token and an expiry
// in the row) and is cut off at half of it. A request that fails releases
// its key on a fresh context; one that cannot (its database connection was
// cut, the process died) leaves it to expire, and a retry then takes it
// over: a key never sticks.
func idempotent(pool *pgxpool.Pool, lease time.Duration, logger *slog.Logger, next http.Handler) http.Handler {
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
		// The key is stored as text: invalid UTF-8 would fail in Postgres (a 500).
		if err := domain.CheckText("Idempotency-Key", key, maxIdempotencyKey); err != nil {
			writeProblem(w, classify(err))
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

		c := &claim{pool: pool, logger: logger, lease: lease, subject: subject, key: key, owner: uuid.New(), path: r.URL.Path}
		owned, tookOver, err := c.reserve(ctx, r.Method, sum)
		if err != nil {
			writeProblem(w, classify(fmt.Errorf("idempotency reserve: %w", err)))
			return
		}
		if !owned {
			replay(ctx, pool, w, subject, key, sum)
			return
		}
		if tookOver {
			logger.Info("api: took over an Idempotency-Key whose request died (lease expired)", "path", r.URL.Path)
		}
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		r.Body = nopCloser{bytes.NewReader(body)}
		completed := false
		defer func() {
			if !completed {
				c.release(ctx)
			}
		}()
		hctx, cancel := context.WithTimeout(ctx, lease/2)
		defer cancel()
		next.ServeHTTP(rec, r.WithContext(hctx))
		if rec.status >= 500 || rec.status == http.StatusConflict || rec.status == http.StatusTooManyRequests {
			// Not an answer to keep: a server failure, or a conflict that a
			// retry may resolve (e.g. a stream changed concurrently); the
			// deferred release forgets the key so the retry runs again.
			return
		}
		completed = c.store(ctx, rec)
	})
}

// claim is one request's hold on an Idempotency-Key.
type claim struct {
	pool         *pgxpool.Pool
	logger       *slog.Logger
	lease        time.Duration
	subject, key string
	owner        uuid.UUID
	path         string
}

// release forgets the claimed key after a failure (5xx, panic) or a
// conflict, so a retry runs again. It runs on a fresh context (the
// request's may be gone); if it fails too, the lease expires.
func (c *claim) release(ctx context.Context) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := c.pool.Exec(cctx, `DELETE FROM api_idempotency WHERE subject = $1 AND key = $2 AND owner = $3 AND status = 0`,
		c.subject, c.key, c.owner); err != nil {
		c.logger.Warn("api: release Idempotency-Key failed; it is released when its lease expires",
			"path", c.path, "lease", c.lease.String(), "err", err)
	}
}

// store records the answer for replays and reports whether the key is
// settled (stored, or taken over by another request meanwhile); when it
// is not, the caller releases it.
func (c *claim) store(ctx context.Context, rec *recorder) bool {
	pos, _ := strconv.ParseInt(rec.Header().Get(PositionHeader), 10, 64)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	tag, err := c.pool.Exec(cctx, `UPDATE api_idempotency SET status = $4, content_type = $5, position = $6, body = $7
		WHERE subject = $1 AND key = $2 AND owner = $3 AND status = 0`,
		c.subject, c.key, c.owner, rec.status, rec.Header().Get("Content-Type"), pos, rec.buf.Bytes())
	switch {
	case err != nil:
		c.logger.Warn("api: storing the answer to an Idempotency-Key failed; a retry runs the request again",
			"path", c.path, "status", rec.status, "err", err)
		return false
	case tag.RowsAffected() == 0:
		c.logger.Warn("api: Idempotency-Key lease lost before the answer was stored", "path", c.path, "lease", c.lease.String())
	}
	return true
}

// reserve claims the key for c.owner until c.lease from now: a new key, or
// an in-flight one whose lease ran out (its request died) with the same
// request (tookOver). It reports owned false when another request holds the
// key or answered it.
func (c *claim) reserve(ctx context.Context, method string, sum []byte) (owned, tookOver bool, err error) {
	var (
		got      uuid.UUID
		inserted bool
	)
	err = c.pool.QueryRow(ctx, `INSERT INTO api_idempotency AS i (subject, key, method, path, request_hash, owner, lease_until)
		VALUES ($1, $2, $3, $4, $5, $6, now() + $7 * interval '1 millisecond')
		ON CONFLICT (subject, key) DO UPDATE SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until, created_at = now()
			WHERE i.status = 0 AND i.lease_until < now() AND i.request_hash = EXCLUDED.request_hash
		RETURNING owner, xmax = 0`, c.subject, c.key, method, c.path, sum, c.owner, c.lease.Milliseconds()).Scan(&got, &inserted)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	return got == c.owner, got == c.owner && !inserted, nil
}

func replay(ctx context.Context, pool *pgxpool.Pool, w http.ResponseWriter, subject, key string, sum []byte) {
	var (
		hash        []byte
		status      int
		contentType string
		pos         int64
		body        []byte
		leaseLeft   float64
	)
	err := pool.QueryRow(ctx, `SELECT request_hash, status, content_type, position, body,
			greatest(extract(epoch FROM lease_until - now()), 0)::float8
		FROM api_idempotency WHERE subject = $1 AND key = $2`, subject, key).Scan(&hash, &status, &contentType, &pos, &body, &leaseLeft)
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
		// Retry when the running request must have finished or its lease
		// (if it died) ran out.
		p := classify(errorf(CodeIdempotencyUse, "Idempotency-Key", "a request with this key is still in progress; retry later"))
		p.RetryAfter = max(1, int(math.Ceil(leaseLeft)))
		writeProblem(w, p)
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
