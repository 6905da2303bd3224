package domain

import (
	"errors"
	"fmt"
)

// Code classifies a domain error; the HTTP API maps each code to one status and the
// ingest consumer maps it to dead-letter (never valid) or retry.
type Code string

// Error codes.
const (
	// Invalid: the input is malformed or out of range (HTTP 400; ingest dead-letters it).
	Invalid Code = "invalid"
	// NotFound: the named partner, deal, lead or quarter does not exist (HTTP 404).
	NotFound Code = "not_found"
	// Conflict: the request contradicts recorded state, e.g. a second registration for a
	// protected customer segment or a duplicate id (HTTP 409).
	Conflict Code = "conflict"
	// Forbidden: the actor may not do this (HTTP 403).
	Forbidden Code = "forbidden"
	// Unprocessable: well-formed, but a business rule refuses it, e.g. tier requirements
	// unmet or seats full (HTTP 422).
	Unprocessable Code = "unprocessable"
	// Internal: not a domain error (ErrorCode's answer for any other error).
	Internal Code = "internal"
)

// Error is the one error type of the domain. Field names the offending input in the
// request's JSON spelling ("lines[2].amount_minor"); Rule names the refusing rule
// ("registration.tier"); Message is a full sentence for people.
type Error struct {
	Code    Code
	Field   string
	Rule    string
	Message string
}

// Error returns the message, a sentence naming the field or rule, e.g. "partner var-17 is
// registered tier; deal registration needs gold or platinum".
func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	switch {
	case e.Field != "":
		return fmt.Sprintf("%s: %s", e.Field, e.Code)
	case e.Rule != "":
		return fmt.Sprintf("rule %s: %s", e.Rule, e.Code)
	}
	return string(e.Code)
}

// Errorf returns a *Error with the formatted message.
func Errorf(code Code, field, rule, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Rule: rule, Message: fmt.Sprintf(format, args...)}
}

func invalidf(field, format string, args ...any) *Error {
	return Errorf(Invalid, field, "", format, args...)
}

func refusef(rule, format string, args ...any) *Error {
	return Errorf(Unprocessable, "", rule, format, args...)
}

// ErrorCode returns the Code of the first *Error in err's chain, "" for nil, and Internal
// for any other error.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// ErrorField returns the Field of the first *Error in err's chain, or "".
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
