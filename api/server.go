// Package api is dealcredit's HTTP API: bearer-token roles, strict JSON
// input, problem+json errors, idempotent creating POSTs, commands through
// the domain deciders onto the event log, queries on the projections, the
// OpenAPI document, request metrics and access logs.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"dealcredit/app"
	"dealcredit/eventstore"
)

// PositionHeader carries the log position a response reflects: for a
// command the position it committed, for a query the position the read
// models had reached.
const PositionHeader = "Dealcredit-Position"

// MinPositionHeader asks a query to wait until the read models reached a
// position (the same as the min_position query parameter).
const MinPositionHeader = "Dealcredit-Min-Position"

// Checker is one named readiness check (database, NATS, migrations,
// projections...).
type Checker struct {
	Name  string
	Check func(ctx context.Context) error
	// Informational checks are reported in the body but never make the
	// instance unready: readiness is about serving (database, NATS,
	// migrations), not about one read model's health. A failing one turns
	// the status to "degraded" and the answer stays 200.
	Informational bool
}

// Deps is what the API needs from the daemon.
type Deps struct {
	// Store is the event log commands load from and append to.
	Store eventstore.Store
	// Pool is the Postgres pool of the idempotency store (migrated with
	// Migrate); the read models come through Queries.
	Pool *pgxpool.Pool
	// Tokens are the accepted bearer tokens (LoadOrCreateTokens).
	Tokens Tokens
	// Logger receives access logs and errors; nil discards.
	Logger *slog.Logger
	// Registerer receives the request metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Gatherer is served at /metrics; nil serves 404 there.
	Gatherer prometheus.Gatherer
	// Readiness checks are run by /readyz.
	Readiness []Checker
	// Clock is the time source of commands; nil is time.Now.
	Clock func() time.Time
	// NewID makes deal and event ids; nil is uuid.New.
	NewID func() uuid.UUID
	// Queries is the read side; nil answers queries with 503.
	Queries Queries
	// WaitTimeout bounds a query's wait for min_position (default 5 s).
	WaitTimeout time.Duration
	// IdempotencyLease is how long a request owns its Idempotency-Key
	// while it runs (default 30 s); the request is cut off at half of it,
	// and a retry takes over a key whose owner died once it ran out.
	IdempotencyLease time.Duration
}

type server struct {
	Deps
	app     *app.Service
	metrics *httpMetrics
}

// NewServer returns the API's handler with every route of Routes.
func NewServer(d Deps) (http.Handler, error) {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Clock == nil {
		d.Clock = time.Now
	}
	if d.NewID == nil {
		d.NewID = uuid.New
	}
	if d.WaitTimeout <= 0 {
		d.WaitTimeout = 5 * time.Second
	}
	if d.IdempotencyLease <= 0 {
		d.IdempotencyLease = 30 * time.Second
	}
	if d.Store == nil {
		return nil, errors.New("api: Deps.Store is required")
	}
	if err := d.Tokens.Validate(); err != nil {
		return nil, err
	}
	m, err := newHTTPMetrics(d.Registerer)
	if err != nil {
		return nil, err
	}
	s := &server{Deps: d, app: app.New(d.Store, app.WithClock(d.Clock), app.WithIDs(d.NewID)), metrics: m}
	mux := http.NewServeMux()
	for _, rt := range Routes() {
		var h http.Handler = rt.handler(s)
		if rt.Creates {
			h = idempotent(s.Pool, s.IdempotencyLease, s.Logger, h)
		}
		if !rt.Public {
			h = authenticate(s.Tokens, rt, h)
		}
		mux.Handle(rt.Method+" "+rt.Path, observe(s.Logger, m, rt.Method+" "+rt.Path, checkInput(rt, h)))
	}
	mux.Handle("/", observe(s.Logger, m, "unmatched", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allowed := allowedMethods(mux, r); len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeProblem(w, classify(errorf(CodeMethod, "method", "%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allowed, ", "))))
			return
		}
		writeProblem(w, classify(errorf(CodeNotFound, "path", "no route %s %s", r.Method, r.URL.Path)))
	})))
	return validPath(mux), nil
}

// allowedMethods lists the methods that have a route for r's path (the
// catch-all "/" pattern aside), for a 405 answer.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var out []string
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = method
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
			out = append(out, method)
		}
	}
	return out
}

// validPath refuses a path that is not valid UTF-8 (e.g. /v1/partners/%ff)
// before any handler sees it: such an id can name no resource, and the
// database would refuse it as text.
func validPath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !utf8.ValidString(r.URL.Path) {
			writeProblem(w, classify(errorf(CodeInvalid, "path", "the request path is not valid UTF-8")))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// NewHTTPServer returns an http.Server for h on addr with the timeouts the
// API expects (slow clients cannot hold connections open).
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      60 * time.Second, // CSV exports stream for a while
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
}

// health is GET /healthz.
type health struct {
	Status string `json:"status"`
}

func (s *server) healthz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, health{Status: "ok"})
	}
}

// readiness is GET /readyz: ready, degraded (an informational check
// fails) or not ready, and each check's outcome.
type readiness struct {
	Status string       `json:"status"`
	Checks []readyCheck `json:"checks"`
}

// readyCheck is one readiness check's outcome.
type readyCheck struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

func (s *server) readyz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		out := readiness{Status: "ready", Checks: []readyCheck{}}
		status := http.StatusOK
		for _, c := range s.Readiness {
			err := c.Check(ctx)
			ch := readyCheck{Name: c.Name, OK: err == nil}
			switch {
			case err != nil && c.Informational:
				ch.Error = err.Error()
				if status == http.StatusOK {
					out.Status = "degraded"
				}
			case err != nil:
				ch.Error = err.Error()
				out.Status, status = "not ready", http.StatusServiceUnavailable
			}
			out.Checks = append(out.Checks, ch)
		}
		writeJSON(w, status, out)
	}
}

func (s *server) metricsHandler() http.HandlerFunc {
	if s.Gatherer == nil {
		return func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, classify(errorf(CodeNotFound, "path", "metrics are not enabled")))
		}
	}
	h := promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{})
	return h.ServeHTTP
}
