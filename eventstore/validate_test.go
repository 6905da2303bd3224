package eventstore_test

import (
	"errors"
	"strings"
	"testing"

	"dealcredit/eventstore"

	"github.com/google/uuid"
)

// TestValidateRequestNamesTheField checks that a refused request names the
// field at fault, with the caller's prefix and the event's index.
func TestValidateRequestNamesTheField(t *testing.T) {
	ok := func() eventstore.Event {
		return eventstore.Event{ID: uuid.New(), Type: "deal.registered", SchemaVersion: 1, Data: []byte(`{}`)}
	}
	dup := ok()
	tests := []struct {
		name   string
		prefix string
		second func(eventstore.Event) eventstore.Event
		field  string
	}{
		{"nil id", "", func(e eventstore.Event) eventstore.Event { e.ID = uuid.Nil; return e }, "events[1].id"},
		{"repeated id", "requests[3].", func(eventstore.Event) eventstore.Event { return dup }, "requests[3].events[1].id"},
		{"empty type", "requests[0].", func(e eventstore.Event) eventstore.Event { e.Type = ""; return e }, "requests[0].events[1].type"},
		{"schema version", "", func(e eventstore.Event) eventstore.Event { e.SchemaVersion = 0; return e }, "events[1].schema_version"},
		{"not JSON", "requests[12].", func(e eventstore.Event) eventstore.Event { e.Data = []byte(`{"a":`); return e }, "requests[12].events[1].data"},
		{"too large", "", func(e eventstore.Event) eventstore.Event {
			e.Data = []byte(`"` + strings.Repeat("x", eventstore.MaxEventSize) + `"`)
			return e
		}, "events[1].data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := eventstore.AppendRequest{Stream: "deal-1", Expected: eventstore.Any, Events: []eventstore.Event{dup, tc.second(ok())}}
			err := eventstore.ValidateRequest(tc.prefix, req)
			var ie *eventstore.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("ValidateRequest = %v, want an *InvalidError", err)
			}
			if ie.Field != tc.field {
				t.Fatalf("field %q, want %q (%v)", ie.Field, tc.field, err)
			}
		})
	}
	if err := eventstore.ValidateRequest("", eventstore.AppendRequest{Stream: "deal-1", Expected: eventstore.Any, Events: []eventstore.Event{ok(), ok()}}); err != nil {
		t.Fatalf("a valid request is refused: %v", err)
	}
}

// TestCheckSizeNamesTheFieldOnlyWhenOver checks that CheckSize builds the
// field's name only for a refusal.
func TestCheckSizeNamesTheFieldOnlyWhenOver(t *testing.T) {
	calls := 0
	field := func() string { calls++; return eventstore.EventField("requests[2].", 4) }
	if err := eventstore.CheckSize(field, []byte(`{}`), []byte(`{}`)); err != nil || calls != 0 {
		t.Fatalf("small event: err %v, field named %d times; want nil, 0", err, calls)
	}
	err := eventstore.CheckSize(field, make([]byte, eventstore.MaxEventSize), []byte(`{"a":"b"}`))
	var ie *eventstore.InvalidError
	if !errors.As(err, &ie) || ie.Field != "requests[2].events[4]" {
		t.Fatalf("oversized event: %v, want an *InvalidError for requests[2].events[4]", err)
	}
}
