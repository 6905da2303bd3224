package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"dealcredit/domain"
	"dealcredit/internal/jsonfield"
)

// MaxBodyBytes is the largest request body accepted (64 KiB).
const MaxBodyBytes = 64 << 10

type nopCloser struct{ io.Reader }

func (nopCloser) Close() error { return nil }

// readBody reads the whole (size-limited) request body and puts it back so
// later readers see it again.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(CodeTooLarge, "body", "must be at most %d bytes", MaxBodyBytes)
		}
		return nil, errorf(CodeInvalid, "body", "could not be read: %v", err)
	}
	r.Body = nopCloser{bytes.NewReader(b)}
	return b, nil
}

// decodeJSON decodes the request body into dst strictly: the content type
// must be JSON (when given), the body one JSON object with no unknown
// fields, no duplicate keys and nothing after it. Errors name the field.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return errorf(CodeUnsupported, "Content-Type", "must be application/json, got %q", ct)
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return errorf(CodeUnsupported, "Content-Type", "charset must be utf-8 (JSON is UTF-8), got %q", cs)
		}
	}
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	if trimmed := bytes.TrimSpace(body); len(trimmed) == 0 || trimmed[0] != '{' {
		return errorf(CodeInvalid, "body", "must be a JSON object")
	}
	if err := checkDuplicates(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf(CodeInvalid, "body", "unexpected data after the JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var (
		se *json.SyntaxError
		te *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &se):
		return errorf(CodeInvalid, "body", "malformed JSON at byte %d: %v", se.Offset, se)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(CodeInvalid, "body", "malformed JSON: unexpected end of input")
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		want := te.Type.String()
		switch te.Type.Kind().String() {
		case "int", "int64", "int32":
			want = "an integer"
		case "string":
			want = "a string"
		case "struct", "map":
			want = "an object"
		case "slice":
			want = "an array"
		case "bool":
			want = "a boolean"
		}
		return &Error{Code: CodeInvalid, Field: field, Rule: "type", Message: fmt.Sprintf("must be %s, got %s", want, te.Value)}
	}
	if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ := strconv.Unquote(msg)
		if name == "" {
			name = msg
		}
		return &Error{Code: CodeInvalid, Field: name, Rule: "unknown_field", Message: "unknown field"}
	}
	return errorf(CodeInvalid, "body", "malformed JSON: %v", err)
}

// checkDuplicates refuses a body with an object holding a repeated key,
// naming it ("customer.name"). It reads the body with the strict JSON
// decoder of github.com/go-json-experiment/json (duplicate names are an error
// there); invalid UTF-8 is let through as U+FFFD, as encoding/json does, for
// the domain's text checks to refuse naming the field.
func checkDuplicates(body []byte) error {
	dec := jsontext.NewDecoder(bytes.NewBuffer(body), jsontext.AllowInvalidUTF8(true))
	_, err := dec.ReadValue()
	var se *jsontext.SyntacticError
	if field, dup := jsonfield.Duplicate(err); dup {
		return &Error{Code: CodeInvalid, Field: field, Rule: "duplicate_key", Message: "duplicate key"}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(CodeInvalid, "body", "malformed JSON: unexpected end of input")
	case errors.As(err, &se):
		return errorf(CodeInvalid, "body", "malformed JSON at byte %d: %v", se.ByteOffset, se.Err)
	}
	return errorf(CodeInvalid, "body", "malformed JSON: %v", err)
}

// parseDate parses a YYYY-MM-DD request field; empty is the zero date (the
// decider reports it as required where it is).
func parseDate(field, v string) (domain.Date, error) {
	if v == "" {
		return domain.Date{}, nil
	}
	d, err := domain.ParseDate(v)
	if err != nil {
		return d, &Error{Code: CodeInvalid, Field: field, Rule: "format", Message: "must be a date like 2026-02-14, got " + domain.Quote(v)}
	}
	return d, nil
}
