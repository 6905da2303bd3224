package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"dealcredit/eventstore"
	"dealcredit/internal/pgdb"
)

// Problem is an RFC 9457 problem+json body. Detail names the field and the
// rule that was broken.
type Problem struct {
	// RetryAfter, in seconds, is sent as the Retry-After header when > 0;
	// writeProblem fills it for the codes a retry may soon resolve.
	RetryAfter int `json:"-"`

	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Field  string `json:"field,omitempty"`
	Rule   string `json:"rule,omitempty"`

	// ReadModel is set on projection_stopped: how far the stopped read
	// model is and the event it is stopped at.
	ReadModel *ReadModel `json:"read_model,omitempty"`
}

// Code classifies an error the API reports; every code has one status in
// the problems table.
type Code string

// Error codes (the same words as domain.Error codes).
const (
	CodeInvalid        Code = "invalid"        // malformed request: 400
	CodeUnprocessable  Code = "unprocessable"  // well-formed but breaks a rule: 422
	CodeNotFound       Code = "not_found"      // 404
	CodeConflict       Code = "conflict"       // 409
	CodeForbidden      Code = "forbidden"      // 403
	CodeUnauthorized   Code = "unauthorized"   // 401
	CodeTooLarge       Code = "too_large"      // 413
	CodeUnsupported    Code = "unsupported"    // 415
	CodeNotAcceptable  Code = "not_acceptable" // 406
	CodeMethod         Code = "method"         // 405
	CodeUnavailable    Code = "unavailable"    // 503
	CodeTimeout        Code = "timeout"        // 504: a wait for a position ran out
	CodeInternal       Code = "internal"       // 500: never a client's mistake
	CodeIdempotencyUse Code = "idempotency_key_in_use"

	// CodeProjectionStopped (503): min_position is beyond a read model stopped at an event.
	CodeProjectionStopped Code = "projection_stopped"
)

// problems is the one table that maps codes to statuses and titles.
var problems = map[Code]struct {
	status int
	title  string
}{
	CodeInvalid:        {http.StatusBadRequest, "Invalid request"},
	CodeUnprocessable:  {http.StatusUnprocessableEntity, "Rule not satisfied"},
	CodeNotFound:       {http.StatusNotFound, "Not found"},
	CodeConflict:       {http.StatusConflict, "Conflict"},
	CodeForbidden:      {http.StatusForbidden, "Forbidden"},
	CodeUnauthorized:   {http.StatusUnauthorized, "Unauthorized"},
	CodeTooLarge:       {http.StatusRequestEntityTooLarge, "Request body too large"},
	CodeUnsupported:    {http.StatusUnsupportedMediaType, "Unsupported media type"},
	CodeNotAcceptable:  {http.StatusNotAcceptable, "Not acceptable"},
	CodeMethod:         {http.StatusMethodNotAllowed, "Method not allowed"},
	CodeUnavailable:    {http.StatusServiceUnavailable, "Service unavailable"},
	CodeTimeout:        {http.StatusGatewayTimeout, "Timed out"},
	CodeInternal:       {http.StatusInternalServerError, "Internal error"},
	CodeIdempotencyUse: {http.StatusConflict, "Idempotency key in use"},

	CodeProjectionStopped: {http.StatusServiceUnavailable, "Read model stopped"},
}

// problemTypePrefix starts every problem's type; the code follows.
const problemTypePrefix = "urn:dealcredit:problem:"

// retryAfter is the Retry-After (seconds) sent with the codes a retry may
// soon resolve.
var retryAfter = map[Code]int{
	CodeUnavailable:    2,
	CodeIdempotencyUse: 1,
}

// Error is an error the API reports to the caller as it is.
type Error struct {
	Code    Code
	Field   string
	Rule    string
	Message string

	// ReadModel, when set, is reported in the problem (projection_stopped).
	ReadModel *ReadModel
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("api: %s: %s", e.Field, e.Message)
	}
	return "api: " + e.Message
}

func errorf(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// classify turns any error into a problem. Errors that are not known client
// errors become 500 with a generic detail (the cause is logged, not shown).
func classify(err error) Problem {
	var (
		ae  *Error
		ce  *eventstore.ConflictError
		ide *eventstore.IDConflictError
		ie  *eventstore.InvalidError
		fe  *eventstore.FencedError
	)
	code, field, rule, detail := CodeInternal, "", "", "internal error"
	var rm *ReadModel
	switch {
	case errors.As(err, &ae):
		code, field, rule, detail, rm = ae.Code, ae.Field, ae.Rule, ae.Message, ae.ReadModel
	case domainProblem(err, &code, &field, &rule, &detail):
	case errors.As(err, &ce):
		code, detail = CodeConflict, fmt.Sprintf("%s was changed concurrently (expected version %s, actual %d); retry", ce.Stream, ce.Expected, ce.Actual)
	case errors.As(err, &ide):
		code, detail = CodeConflict, "the request was already applied with different content"
	case errors.As(err, &ie):
		code, field, detail = CodeUnprocessable, ie.Field, ie.Reason
	case pgdb.Unavailable(err):
		code, detail = CodeUnavailable, "the database is unavailable; retry"
	case errors.Is(err, context.DeadlineExceeded):
		code, detail = CodeUnavailable, "the request timed out"
	case errors.Is(err, context.Canceled):
		// The client went away (or the server is stopping): nobody reads
		// the answer, and it is no server fault to log as one.
		code, detail = CodeUnavailable, "the request was cancelled"
	case errors.Is(err, eventstore.ErrClosed):
		code, detail = CodeUnavailable, "the server is shutting down"
	case errors.As(err, &fe):
		code, detail = CodeUnavailable, fmt.Sprintf("the event log is fenced, nothing was recorded: %s (log head %d, mirror head %d); retry later", fe.Reason, fe.LogHead, fe.MirrorHead)
	}
	p := problems[code]
	if p.status == 0 {
		p = problems[CodeInternal]
	}
	if field != "" && detail != "" && !containsField(detail, field) {
		detail = field + ": " + detail
	}
	return Problem{Type: "urn:dealcredit:problem:" + string(code), Title: p.title, Status: p.status, Detail: detail, Field: field, Rule: rule,
		ReadModel: rm}
}

func containsField(detail, field string) bool { return strings.Contains(detail, field) }

// writeProblem writes p as application/problem+json.
func writeProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if p.RetryAfter == 0 {
		p.RetryAfter = retryAfter[Code(strings.TrimPrefix(p.Type, problemTypePrefix))]
	}
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
