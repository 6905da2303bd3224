package eventstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// MaxStreamIDLength is the longest stream id accepted, in bytes.
const MaxStreamIDLength = 256

// MaxTypeLength is the longest event type accepted, in bytes.
const MaxTypeLength = 256

// ValidateRequest returns an *InvalidError naming the first field of req
// that can never be appended: empty or malformed stream id, invalid
// Expected, no events, and per event: nil id, duplicate id, empty type,
// schema version < 1, data that is not valid UTF-8 JSON, or data over
// MaxEventSize (CheckSize checks data plus encoded metadata). Field names are prefixed with prefix
// (e.g. "requests[1]."), which may be empty.
func ValidateRequest(prefix string, req AppendRequest) error {
	if err := validateText(req.Stream, MaxStreamIDLength); err != "" {
		return &InvalidError{Field: prefix + "stream", Reason: err}
	}
	if err := req.Expected.Validate(); err != nil {
		var ie *InvalidError
		if errors.As(err, &ie) {
			return &InvalidError{Field: prefix + ie.Field, Reason: ie.Reason}
		}
		return err
	}
	if len(req.Events) == 0 {
		return &InvalidError{Field: prefix + "events", Reason: "no events to append"}
	}
	seen := make(map[uuid.UUID]int, len(req.Events))
	for i, e := range req.Events {
		// The field is named only when a check fails (no string per event).
		invalid := func(name, reason string) error {
			return &InvalidError{Field: EventField(prefix, i) + "." + name, Reason: reason}
		}
		if e.ID == uuid.Nil {
			return invalid("id", "nil event id")
		}
		if j, dup := seen[e.ID]; dup {
			return invalid("id", fmt.Sprintf("event id %s repeats events[%d]", e.ID, j))
		}
		seen[e.ID] = i
		if err := validateText(e.Type, MaxTypeLength); err != "" {
			return invalid("type", err)
		}
		if e.SchemaVersion < 1 {
			return invalid("schema_version", fmt.Sprintf("must be >= 1, got %d", e.SchemaVersion))
		}
		if len(e.Data) > MaxEventSize {
			return invalid("data", fmt.Sprintf("%d bytes exceeds the %d byte limit", len(e.Data), MaxEventSize))
		}
		if !utf8.Valid(e.Data) || !json.Valid(e.Data) {
			return invalid("data", "not valid UTF-8 JSON")
		}
	}
	return nil
}

// EncodeMetadata returns the stored JSON form of m.
func EncodeMetadata(m Metadata) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		// Metadata holds only strings; Marshal cannot fail.
		panic(fmt.Sprintf("eventstore: encode metadata: %v", err))
	}
	return b
}

// EventField names the i-th event of a request whose fields carry prefix:
// "<prefix>events[i]".
func EventField(prefix string, i int) string {
	return prefix + "events[" + strconv.Itoa(i) + "]"
}

// CheckSize returns an *InvalidError naming field() when data plus encoded
// metadata exceed MaxEventSize; field is called only then.
func CheckSize(field func() string, data, metadata []byte) error {
	if n := len(data) + len(metadata); n > MaxEventSize {
		return &InvalidError{Field: field(), Reason: fmt.Sprintf("data plus metadata is %d bytes, over the %d byte limit", n, MaxEventSize)}
	}
	return nil
}

func validateText(s string, max int) string {
	switch {
	case s == "":
		return "empty"
	case len(s) > max:
		return fmt.Sprintf("%d bytes exceeds %d", len(s), max)
	case !utf8.ValidString(s):
		return "not valid UTF-8"
	case strings.ContainsRune(s, 0):
		return "contains a NUL byte"
	}
	return ""
}
