package api

import (
	"fmt"
	"net/http"
	"testing"

	"dealcredit/domain"
)

// TestClassifyOneErrorType: every error the API reports is a *domain.Error
// (the domain's codes and HTTP's own), rendered by one rule: a malformed
// field names the field, a refusal names its rule too.
func TestClassifyOneErrorType(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		status     int
		field      string
		rule       string
		detail     string
		readModels bool
	}{
		{"a malformed field names the field, not the rule", &Error{Code: CodeInvalid, Field: "gold", Rule: "required", Message: "is missing"},
			http.StatusBadRequest, "gold", "required", "gold: is missing", false},
		{"a refusal names its rule", fmt.Errorf("decide: %w", domain.Errorf(domain.Unprocessable, "", "registration.tier", "partner var-1 is registered tier")),
			http.StatusUnprocessableEntity, "", "registration.tier", "partner var-1 is registered tier (rule registration.tier)", false},
		{"a refusal that names its rule already", domain.Errorf(domain.Forbidden, "", "role", "role partner may not call it"),
			http.StatusForbidden, "", "role", "role partner may not call it", false},
		{"an HTTP code", errorf(CodeTooLarge, "body", "must be at most 1 bytes"),
			http.StatusRequestEntityTooLarge, "body", "", "body: must be at most 1 bytes", false},
		{"a code nobody maps is internal, and says nothing", domain.Errorf("strange", "x", "r", "secret detail"),
			http.StatusInternalServerError, "", "", "internal error", false},
		{"the domain's internal code says nothing either", domain.Errorf(domain.Internal, "x", "", "secret detail"),
			http.StatusInternalServerError, "", "", "internal error", false},
		{"a stopped read model is reported with the problem", &stoppedError{err: errorf(CodeProjectionStopped, "min_position", "stopped"), readModel: ReadModel{Name: "attribution", Position: 7}},
			http.StatusServiceUnavailable, "min_position", "", "min_position: stopped", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := classify(tc.err)
			if p.Status != tc.status || p.Field != tc.field || p.Rule != tc.rule || p.Detail != tc.detail {
				t.Errorf("problem %d field %q rule %q detail %q, want %d %q %q %q", p.Status, p.Field, p.Rule, p.Detail, tc.status, tc.field, tc.rule, tc.detail)
			}
			if (p.ReadModel != nil) != tc.readModels || (tc.readModels && p.ReadModel.Position != 7) {
				t.Errorf("read model %+v, want present=%v", p.ReadModel, tc.readModels)
			}
		})
	}
}
