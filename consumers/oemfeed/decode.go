package oemfeed

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"dealcredit/domain"
	"dealcredit/internal/jsonfield"
)

// DecodeError is why a message can never be valid. Field names the offending
// field as a JSON path ("lines[2].amount_minor"); it is empty when the body as
// a whole is wrong (too large, not JSON).
type DecodeError struct {
	Field  string
	Reason string
}

func (e *DecodeError) Error() string { return "oemfeed: " + e.Sentence() }

// Sentence is the reason as one human sentence naming the field, as sent in
// the Dealcredit-Reason header of a dead letter.
func (e *DecodeError) Sentence() string {
	if e.Field == "" {
		return e.Reason
	}
	return "field " + e.Field + ": " + e.Reason
}

func fieldErr(field, format string, args ...any) error {
	return &DecodeError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// MaxLineAmount bounds amount_minor: the domain's limit.
const MaxLineAmount = domain.MaxLineAmount

// maxSchemaLen bounds the "schema" member, which a dead letter's reason quotes.
const maxSchemaLen = 64

// ValidOEMID reports whether id may name an OEM (lower case letters, digits,
// '_' and '-', at most 32 characters): it becomes part of subjects and of the
// stream name OEM_<ID>.
func ValidOEMID(id string) bool { return oemIDPattern.MatchString(id) }

// SubjectOEM returns the OEM id of subject "oem.<oem_id>.invoices".
func SubjectOEM(subject string) (string, error) {
	rest, prefixed := strings.CutPrefix(subject, "oem.")
	oem, suffixed := strings.CutSuffix(rest, ".invoices")
	if !prefixed || !suffixed || !ValidOEMID(oem) { // an OEM id has no '.'
		return "", fmt.Errorf("oemfeed: subject %q is not oem.<oem_id>.invoices", subject)
	}
	return oem, nil
}

// A versionDecoder strictly decodes and validates the body of a message of
// one schema version (valid UTF-8, at most MaxMessageSize bytes) into the
// domain's invoice, its OEMID the body's (Decode sets its Source). Every
// error is a *DecodeError.
type versionDecoder func(body []byte) (domain.InvoiceReceived, error)

// versions maps the value of a message's "schema" member to the decoder of
// that version. Each version's file adds itself in its init (v1.go), so a new
// version, or an OEM's own format with a schema name of its own, is one new
// file with its tests, fixtures and JSON Schema (TestVersions checks that
// every version has them).
var versions = map[string]versionDecoder{}

func register(schema string, d versionDecoder) {
	if _, dup := versions[schema]; dup {
		panic("oemfeed: schema " + schema + " registered twice")
	}
	versions[schema] = d
}

// Schemas returns the schema versions Decode accepts, sorted.
func Schemas() []string { return slices.Sorted(maps.Keys(versions)) }

// Decode strictly decodes and validates one message received on subject
// ("oem.<oem_id>.invoices"; an empty subject skips the subject check, for
// tools that validate a file before publishing it) with the decoder of the
// schema version its "schema" member names, and returns it as the domain's
// invoice. Any error is a *DecodeError whose Field names the offending
// field: the message can never become valid.
func Decode(subject string, body []byte) (domain.InvoiceReceived, error) {
	if len(body) > MaxMessageSize {
		return domain.InvoiceReceived{}, &DecodeError{Reason: fmt.Sprintf("body is %d bytes, more than the limit of %d", len(body), MaxMessageSize)}
	}
	subjectOEM := ""
	if subject != "" {
		oem, err := SubjectOEM(subject)
		if err != nil {
			return domain.InvoiceReceived{}, &DecodeError{Field: "subject", Reason: fmt.Sprintf("%q is not oem.<oem_id>.invoices", subject)}
		}
		subjectOEM = oem
	}
	if len(bytes.TrimLeft(body, " \t\r\n")) == 0 {
		return domain.InvoiceReceived{}, &DecodeError{Reason: "body is empty; a message is one JSON object"}
	}
	if !utf8.Valid(body) {
		return domain.InvoiceReceived{}, &DecodeError{Reason: "body is not valid UTF-8"}
	}
	schema, err := schemaOf(body)
	if err != nil {
		return domain.InvoiceReceived{}, err
	}
	decode, ok := versions[schema]
	if !ok {
		return domain.InvoiceReceived{}, fieldErr("schema", "%q is not a schema this daemon decodes (%s)", schema, strings.Join(Schemas(), ", "))
	}
	inv, err := decode(body)
	if err != nil {
		return domain.InvoiceReceived{}, err
	}
	if subjectOEM != "" && inv.OEMID != subjectOEM {
		return domain.InvoiceReceived{}, fieldErr("oem_id", "%q does not match the subject's OEM %q", inv.OEMID, subjectOEM)
	}
	inv.Source = subject // the OEM's subject, as checked above
	if subject == "" {
		inv.Source = Subject(inv.OEMID)
	}
	return inv, nil
}

// schemaOf reads the "schema" member of the top-level object, the first
// member as producers write it, so usually without reading further.
func schemaOf(body []byte) (string, error) {
	if s, ok := plainSchema(body); ok {
		return s, nil
	}
	d := jsontext.NewDecoder(bytes.NewBuffer(body), jsonOptions)
	tok, err := d.ReadToken()
	if err != nil {
		return "", jsonErr(err)
	}
	if k := tok.Kind(); k != '{' {
		return "", &DecodeError{Reason: "body must be a JSON object, got " + kindName(k)}
	}
	for d.PeekKind() != '}' {
		name, err := d.ReadToken()
		if err != nil {
			return "", jsonErr(err)
		}
		if name.String() != "schema" {
			if err := d.SkipValue(); err != nil {
				return "", jsonErr(err)
			}
			continue
		}
		v, err := d.ReadToken()
		switch {
		case err != nil:
			return "", jsonErr(err)
		case v.Kind() != '"':
			return "", fieldErr("schema", "must be a string, got %s", kindName(v.Kind()))
		case utf8.RuneCountInString(v.String()) > maxSchemaLen:
			return "", fieldErr("schema", "is %d characters, more than %d", utf8.RuneCountInString(v.String()), maxSchemaLen)
		}
		return v.String(), nil
	}
	return "", fieldErr("schema", "is required")
}

// plainSchema reads the "schema" member when it is the first, written plainly
// (`{"schema":"` and a value of at most maxSchemaLen printable ASCII
// characters other than '"' and '\\'), as producers write it; false sends
// the body to schemaOf's decoder, which reads it in any form. The body is
// checked as a whole by the version's decoder.
func plainSchema(body []byte) (string, bool) {
	const prefix = `{"schema":"`
	if !bytes.HasPrefix(body, []byte(prefix)) {
		return "", false
	}
	v := body[len(prefix):]
	for i := 0; i < len(v) && i <= maxSchemaLen; i++ {
		switch c := v[i]; {
		case c == '"':
			return string(v[:i]), true
		case c < 0x20 || c >= utf8.RuneSelf || c == '\\':
			return "", false
		}
	}
	return "", false
}

// jsonOptions are the options of the decoders that read a body (schemaOf's
// and the walker's): duplicate names are refused (the default). Decode has
// checked that the body is valid UTF-8, so what AllowInvalidUTF8 lets
// through is only a lone surrogate written as an escape (\ud800): it becomes
// U+FFFD, which domain.CheckText refuses with a reason naming the field.
var jsonOptions = jsontext.AllowInvalidUTF8(true)

// jsonErr turns an error of the JSON decoder (bad syntax, a duplicate name)
// into a *DecodeError, naming the field of a duplicate name.
func jsonErr(err error) error {
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) {
		if field, dup := jsonfield.Duplicate(err); dup {
			return &DecodeError{Field: field, Reason: "duplicate key"}
		}
		return &DecodeError{Reason: "invalid JSON: " + strings.TrimPrefix(syn.Error(), "jsontext: ")}
	}
	return &DecodeError{Reason: "invalid JSON: " + err.Error()}
}

// literalAt returns the number literal that starts at offset off of body
// (at most 32 bytes of it).
func literalAt(body []byte, off int64) string {
	if off < 0 || off >= int64(len(body)) {
		return "a number"
	}
	end := int(off)
	for end < len(body) && end-int(off) < 32 && strings.IndexByte("+-.0123456789eE", body[end]) >= 0 {
		end++
	}
	if end == int(off) {
		return "a number"
	}
	return string(body[off:end])
}

// kindName describes a JSON kind for a reason ("an object").
func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "nothing"
}

// text checks a required string member of 1..maxLen characters without
// control characters (domain.CheckText, the check shared by every entry).
func text(field string, p optString, maxLen int) (string, error) {
	if !p.ok {
		return "", fieldErr(field, "is required")
	}
	s := p.s
	if s == "" {
		return "", fieldErr(field, "must not be empty")
	}
	if err := domain.CheckText(field, s, maxLen); err != nil {
		return "", fieldErr(field, "%s", strings.TrimPrefix(err.Error(), field+" "))
	}
	return s, nil
}

// optText is text for a member that may be absent or null ("", false then).
func optText(field string, p optString, maxLen int) (string, bool, error) {
	if !p.ok {
		return "", false, nil
	}
	s, err := text(field, p, maxLen)
	return s, true, err
}

// matching is text for a member that must match re (described by what).
func matching(field string, p optString, re matcher, what string) (string, error) {
	s, err := text(field, p, 256)
	if err != nil {
		return "", err
	}
	if !re.MatchString(s) {
		return "", fieldErr(field, "%q is not %s", s, what)
	}
	return s, nil
}

// integer checks a required integer member in [lo, hi] (the walker has
// refused fractions and exponents).
func integer(field string, p optInt, lo, hi int64) (int64, error) {
	if !p.ok {
		return 0, fieldErr(field, "is required")
	}
	i := p.n
	if i < lo || i > hi {
		if i < 0 && lo >= 0 {
			return 0, fieldErr(field, "must not be negative, got %d", i)
		}
		return 0, fieldErr(field, "must be between %d and %d, got %d", lo, hi, i)
	}
	return i, nil
}
