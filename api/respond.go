package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// writeJSON writes v as a JSON answer with status. The body is encoded
// into a pooled buffer first and sent with its Content-Length in one
// write, rather than streamed through the response's 4 KiB buffer in
// chunks (a syscall and a chunk header per 4 KiB); an answer that cannot
// be encoded is a 500 problem instead of a truncated body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := jsonBuffers.Get().(*jsonBuffer)
	defer putJSONBuffer(buf)
	buf.b = buf.b[:0]
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		writeProblem(w, classify(fmt.Errorf("api: encode answer: %w", err)))
		return
	}
	writeBody(w, status, buf.b)
}

// writeBody writes body, JSON, as the answer with status and its
// Content-Length.
func writeBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = nosniff
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Header values shared by every JSON answer (never modified).
var (
	jsonContentType = []string{"application/json"}
	nosniff         = []string{"nosniff"}
)

// jsonBuffer is a growable byte slice an encoder writes to.
type jsonBuffer struct{ b []byte }

func (j *jsonBuffer) Write(p []byte) (int, error) {
	j.b = append(j.b, p...)
	return len(p), nil
}

// jsonBuffers recycles the buffers JSON answers are built in.
var jsonBuffers = sync.Pool{New: func() any { return new(jsonBuffer) }}

// putJSONBuffer returns buf to the pool unless it grew past 1 MiB (a large
// answer's buffer is left to the collector rather than kept for good).
func putJSONBuffer(buf *jsonBuffer) {
	if cap(buf.b) <= 1<<20 {
		jsonBuffers.Put(buf)
	}
}

// fail writes err as problem+json; errors that are not the client's fault
// are logged with their cause (the client sees a generic detail).
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := classify(err)
	if p.Status >= 500 && !errors.Is(err, context.Canceled) {
		s.Logger.ErrorContext(r.Context(), "api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeProblem(w, p)
}

// ownPartner checks a partner token against the partner that owns the
// resource: another partner's resource is "not found", so its existence is
// not revealed. Other roles pass.
func ownPartner(r *http.Request, partnerID string) error {
	p := principalFrom(r.Context())
	if p.Role != RolePartner || p.PartnerID == partnerID {
		return nil
	}
	return errorf(CodeNotFound, "id", "not found")
}

// queryInt parses an optional integer query parameter within [min, max].
func queryInt(r *http.Request, name string, def, min, max int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, &Error{Code: CodeInvalid, Field: name, Rule: "type", Message: "must be an integer, got " + strconv.Quote(v)}
	}
	if n < min || n > max {
		return 0, &Error{Code: CodeInvalid, Field: name, Rule: "range", Message: "must be between " + strconv.FormatInt(min, 10) + " and " + strconv.FormatInt(max, 10)}
	}
	return n, nil
}

// minPosition is the position a query must reflect: ?min_position= or the
// Dealcredit-Min-Position header.
func minPosition(r *http.Request) (int64, error) {
	if h := r.Header.Get(MinPositionHeader); h != "" && r.URL.Query().Get("min_position") == "" {
		n, err := strconv.ParseInt(h, 10, 64)
		if err != nil || n < 0 {
			return 0, &Error{Code: CodeInvalid, Field: MinPositionHeader, Rule: "type", Message: "must be a non-negative integer"}
		}
		return n, nil
	}
	return queryInt(r, "min_position", 0, 0, 1<<62)
}

func min64(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

func setPosition(w http.ResponseWriter, pos int64) {
	w.Header().Set(PositionHeader, strconv.FormatInt(pos, 10))
}

func itoa(n int) string { return strconv.Itoa(n) }
