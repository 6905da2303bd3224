package api

import (
	"errors"

	"dealcredit/domain"
)

// domainCodes maps domain error codes to API codes (and so to statuses).
var domainCodes = map[domain.Code]Code{
	domain.Invalid:       CodeInvalid,
	domain.NotFound:      CodeNotFound,
	domain.Conflict:      CodeConflict,
	domain.Forbidden:     CodeForbidden,
	domain.Unprocessable: CodeUnprocessable,
	domain.Internal:      CodeInternal,
}

// domainProblem reports whether err carries a *domain.Error and, if so,
// fills in the problem's parts from it.
func domainProblem(err error, code *Code, field, rule, detail *string) bool {
	var de *domain.Error
	if !errors.As(err, &de) {
		return false
	}
	c, ok := domainCodes[de.Code]
	if !ok {
		c = CodeInternal
	}
	*code, *field, *rule, *detail = c, de.Field, de.Rule, de.Error()
	// A refusal names its rule in the detail; a malformed field is named
	// by the field (its rule is in the problem's rule member).
	if de.Rule != "" && de.Code != domain.Invalid && !containsField(*detail, de.Rule) {
		*detail += " (rule " + de.Rule + ")"
	}
	return true
}
