package api

import (
	"errors"
	"net/http"
	"sort"
	"strings"

	"dealcredit/domain"
)

// MaxRequestIDLen bounds the X-Request-Id header, which is copied into the
// metadata of every event a command appends.
const MaxRequestIDLen = 128

// maxPathLen bounds the request path (it is copied into the events' source).
const maxPathLen = 1024

// maxQueryValueLen bounds one query parameter's value.
const maxQueryValueLen = 256

// checkInput refuses, with 400 naming the parameter, a request whose path
// parameters or query values are not clean text (NUL and other control
// characters, invalid UTF-8: domain.CheckText, the check every entry
// shares), or whose X-Request-Id is not 1-128 printable ASCII characters.
// The request id is refused rather than replaced: a caller that correlates
// by it must learn that it was not kept.
func checkInput(rt Route, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkRequestInput(rt, r); err != nil {
			writeProblem(w, classify(err))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func checkRequestInput(rt Route, r *http.Request) error {
	if len(r.URL.Path) > maxPathLen {
		return &Error{Code: CodeInvalid, Field: "path", Rule: "max_length", Message: "the request path is longer than 1024 bytes"}
	}
	pattern := strings.Split(rt.Path, "/")
	for i, seg := range strings.Split(r.URL.Path, "/") {
		name := "path"
		if i < len(pattern) && strings.HasPrefix(pattern[i], "{") {
			name = strings.Trim(pattern[i], "{}")
		}
		if err := domain.CheckText(name, seg, maxPathLen); err != nil {
			return inputError(err)
		}
	}
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first bad parameter by name: a deterministic answer
	for _, k := range keys {
		if err := domain.CheckText("query parameter name", k, maxQueryValueLen); err != nil {
			return inputError(err)
		}
		for _, v := range q[k] {
			if err := domain.CheckText(k, v, maxQueryValueLen); err != nil {
				return inputError(err)
			}
		}
	}
	return checkRequestID(r.Header.Values("X-Request-Id"))
}

// checkRequestID accepts no X-Request-Id or one of 1-128 printable ASCII
// characters (0x21-0x7e).
func checkRequestID(vals []string) error {
	const field = "X-Request-Id"
	switch {
	case len(vals) == 0:
		return nil
	case len(vals) > 1:
		return &Error{Code: CodeInvalid, Field: field, Rule: "single", Message: "X-Request-Id must be sent once"}
	case vals[0] == "" || len(vals[0]) > MaxRequestIDLen:
		return &Error{Code: CodeInvalid, Field: field, Rule: "max_length", Message: "X-Request-Id must be 1-128 characters"}
	}
	for i := 0; i < len(vals[0]); i++ {
		if c := vals[0][i]; c < 0x21 || c > 0x7e {
			return &Error{Code: CodeInvalid, Field: field, Rule: "printable", Message: "X-Request-Id must be printable ASCII without spaces"}
		}
	}
	return nil
}

// inputError turns a domain text error into the API's 400 naming the
// parameter (a path or query value is a request's form, not a rule).
func inputError(err error) error {
	var de *domain.Error
	if errors.As(err, &de) {
		return &Error{Code: CodeInvalid, Field: de.Field, Rule: "text", Message: de.Message}
	}
	return err
}
