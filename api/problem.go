package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"dealcredit/app"
	"dealcredit/domain"
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

	// Errors lists the refused rows of an import (POST /v1/admin/import),
	// each by file, line and field.
	Errors []app.RowError `json:"errors,omitempty"`
}

// Code classifies an error the API reports; every code has one status in
// the problems table. It is the domain's code: the domain's words (invalid,
// not_found, conflict, forbidden, unprocessable, internal) and the codes
// only HTTP has (the request's transport, authentication, read-model waits).
type Code = domain.Code

// The domain's codes, as the API names them.
const (
	CodeInvalid       = domain.Invalid       // malformed request: 400
	CodeUnprocessable = domain.Unprocessable // well-formed but breaks a rule: 422
	CodeNotFound      = domain.NotFound      // 404
	CodeConflict      = domain.Conflict      // 409
	CodeForbidden     = domain.Forbidden     // 403
	CodeInternal      = domain.Internal      // 500: never a client's mistake
)

// The codes only HTTP has.
const (
	CodeUnauthorized   Code = "unauthorized"   // 401
	CodeTooLarge       Code = "too_large"      // 413
	CodeUnsupported    Code = "unsupported"    // 415
	CodeNotAcceptable  Code = "not_acceptable" // 406
	CodeMethod         Code = "method"         // 405
	CodeUnavailable    Code = "unavailable"    // 503
	CodeTimeout        Code = "timeout"        // 504: a wait for a position ran out
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

// Error is an error the API reports to the caller as it is: the domain's
// one error type (a rule's refusal and a malformed request alike), with the
// HTTP codes above where HTTP has its own.
type Error = domain.Error

func errorf(code Code, field, format string, args ...any) *Error {
	return domain.Errorf(code, field, "", format, args...)
}

// stoppedError is a projection_stopped problem with the state of the
// stopped read model, reported in the problem's read_model member.
type stoppedError struct {
	err       *Error
	readModel ReadModel
}

func (e *stoppedError) Error() string { return e.err.Error() }
func (e *stoppedError) Unwrap() error { return e.err }

// classify turns any error into a problem. Errors that are not known client
// errors become 500 with a generic detail (the cause is logged, not shown).
func classify(err error) Problem {
	var (
		de  *Error
		se  *stoppedError
		ce  *eventstore.ConflictError
		ide *eventstore.IDConflictError
		ie  *eventstore.InvalidError
		fe  *eventstore.FencedError
	)
	code, field, rule, detail := CodeInternal, "", "", "internal error"
	switch {
	case errors.As(err, &de):
		code, field, rule, detail = de.Code, de.Field, de.Rule, de.Error()
		// A refusal names its rule in the detail; a malformed request names
		// its field (the rule is in the problem's rule member).
		if rule != "" && code != CodeInvalid && !containsField(detail, rule) {
			detail += " (rule " + rule + ")"
		}
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
	p, ok := problems[code]
	if !ok {
		code, p = CodeInternal, problems[CodeInternal]
	}
	if code == CodeInternal {
		field, rule, detail = "", "", "internal error"
	}
	if field != "" && detail != "" && !containsField(detail, field) {
		detail = field + ": " + detail
	}
	out := Problem{Type: problemTypePrefix + string(code), Title: p.title, Status: p.status, Detail: detail, Field: field, Rule: rule}
	if errors.As(err, &se) {
		out.ReadModel = &se.readModel
	}
	var imp *app.ImportError
	if code != CodeInternal && errors.As(err, &imp) {
		out.Errors = imp.Rows
	}
	return out
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
