package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type principalKey struct{}

func principalFrom(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// authenticate resolves the bearer token (401 when missing or unknown) and
// checks the route's roles (403 when the role is not allowed). Ownership
// (404 for another partner's resource) is checked by the handlers, which
// know the resource.
func authenticate(tokens Tokens, rt Route, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		scheme, tok, _ := strings.Cut(auth, " ")
		tok = strings.TrimSpace(tok)
		if !strings.EqualFold(scheme, "Bearer") || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dealcredit"`)
			writeProblem(w, classify(errorf(CodeUnauthorized, "Authorization", "a bearer token is required")))
			return
		}
		p, ok := tokens.Lookup(tok)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dealcredit", error="invalid_token"`)
			writeProblem(w, classify(errorf(CodeUnauthorized, "Authorization", "unknown token")))
			return
		}
		if !rt.allows(p.Role) {
			writeProblem(w, classify(&Error{Code: CodeForbidden, Rule: "role", Message: fmt.Sprintf("role %s may not call %s %s", p.Role, rt.Method, rt.Path)}))
			return
		}
		if s, ok := w.(*statusWriter); ok {
			s.subject = p.Subject
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// httpMetrics are the request metrics.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dealcredit_http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dealcredit_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("api: register metrics: %w", err)
		}
	}
	return m, nil
}

// statusWriter captures the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status  int
	bytes   int64
	subject string
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(p)
	s.bytes += int64(n)
	return n, err
}

// Flush lets streamed (CSV) responses reach the client as they are written.
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// observe records metrics and an access log line for every request, and
// turns a panic into a 500 problem. The log line never carries the
// Authorization header or the body; the caller is named by its token's
// non-secret subject.
func observe(logger *slog.Logger, m *httpMetrics, route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				logger.ErrorContext(r.Context(), "api: handler panic", "route", route, "panic", fmt.Sprint(v))
				if sw.status == 0 {
					writeProblem(sw, classify(fmt.Errorf("panic: %v", v)))
				}
			}
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			d := time.Since(start)
			if m != nil {
				m.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
				m.duration.WithLabelValues(route).Observe(d.Seconds())
			}
			level := slog.LevelInfo
			// A 503 from /readyz is an answer (not ready yet: starting,
			// catching up), not a failure of the server.
			if sw.status >= 500 && route != "GET /readyz" {
				level = slog.LevelError
			}
			logger.LogAttrs(r.Context(), level, "http request",
				slog.String("method", r.Method),
				slog.String("route", route),
				slog.String("path", r.URL.Path),
				slog.Int("status", sw.status),
				slog.Int64("bytes", sw.bytes),
				slog.Duration("duration", d),
				slog.String("remote", r.RemoteAddr),
				slog.String("subject", sw.subject),
			)
		}()
		next.ServeHTTP(sw, r)
	})
}
