package oemfeed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"dealcredit/domain"
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

var (
	oemIDPattern     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	numberPattern    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$`)
	skuPattern       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/+-]{0,63}$`)
	countryPattern   = regexp.MustCompile(`^[A-Z]{2}$`)
	datePattern      = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	maxDepth         = 8
	maxRevision      = int64(domain.MaxRevision)
	maxLineNumber    = int64(domain.MaxLineNumber)
	errTrailingValue = errors.New("trailing data after the JSON object")
)

// MaxLineAmount bounds amount_minor: the domain's limit.
const MaxLineAmount = domain.MaxLineAmount

// ValidOEMID reports whether id may name an OEM (lower case letters, digits,
// '_' and '-', at most 32 characters): it becomes part of subjects and of the
// stream name OEM_<ID>.
func ValidOEMID(id string) bool { return oemIDPattern.MatchString(id) }

// SubjectOEM returns the OEM id of subject "oem.<oem_id>.invoices".
func SubjectOEM(subject string) (string, error) {
	parts := strings.Split(subject, ".")
	if len(parts) != 3 || parts[0] != "oem" || parts[2] != "invoices" || !ValidOEMID(parts[1]) {
		return "", fmt.Errorf("oemfeed: subject %q is not oem.<oem_id>.invoices", subject)
	}
	return parts[1], nil
}

// Decode strictly decodes and validates one message received on subject
// ("oem.<oem_id>.invoices"; an empty subject skips the subject check, for
// tools that validate a file before publishing it). Any error is a
// *DecodeError whose Field names the offending field: the message can never
// become valid.
func Decode(subject string, body []byte) (Message, error) {
	var m Message
	if len(body) > MaxMessageSize {
		return m, &DecodeError{Reason: fmt.Sprintf("body is %d bytes, more than the limit of %d", len(body), MaxMessageSize)}
	}
	subjectOEM := ""
	if subject != "" {
		oem, err := SubjectOEM(subject)
		if err != nil {
			return m, &DecodeError{Field: "subject", Reason: fmt.Sprintf("%q is not oem.<oem_id>.invoices", subject)}
		}
		subjectOEM = oem
	}
	if !utf8.Valid(body) {
		return m, &DecodeError{Reason: "body is not valid UTF-8"}
	}
	tree, err := parseTree(body)
	if err != nil {
		return m, err
	}
	root, ok := tree.(*object)
	if !ok {
		return m, &DecodeError{Reason: "body must be a JSON object, got " + kindOf(tree)}
	}
	if err := decodeMessage(root, &m); err != nil {
		return Message{}, err
	}
	if subjectOEM != "" && m.OEMID != subjectOEM {
		return Message{}, fieldErr("oem_id", "%q does not match the subject's OEM %q", m.OEMID, subjectOEM)
	}
	return m, nil
}

// object is a JSON object that remembers its key order. Objects are small
// (at most a dozen known keys), so lookups scan the keys.
type object struct {
	keys []string
	vals []any // vals[i] is the value of keys[i]
}

// get returns the value of key k.
func (o *object) get(k string) (any, bool) {
	for i, key := range o.keys {
		if key == k {
			return o.vals[i], true
		}
	}
	return nil, false
}

// parseTree parses body into *object, []any, json.Number, string, bool and
// nil values, rejecting duplicate keys and trailing data. Well-formed bodies
// take the one-pass scanTree; the others are walked token by token, which
// names what is wrong.
func parseTree(body []byte) (any, error) {
	if v, ok := scanTree(body); ok {
		return v, nil
	}
	return parseTreeTokens(body)
}

// parseTreeTokens is parseTree with encoding/json's tokenizer.
func parseTreeTokens(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	v, err := parseValue(dec, "", 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &DecodeError{Reason: "invalid JSON: " + errTrailingValue.Error()}
	}
	return v, nil
}

func parseValue(dec *json.Decoder, path string, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, &DecodeError{Reason: "invalid JSON: unexpected end of input"}
		}
		return nil, &DecodeError{Reason: "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	if depth >= maxDepth {
		return nil, fieldErr(path, "nested too deeply")
	}
	switch d {
	case '{':
		o := &object{}
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, &DecodeError{Reason: "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
			}
			k, _ := kt.(string)
			child := joinPath(path, k)
			if seen[k] {
				return nil, fieldErr(child, "duplicate key")
			}
			v, err := parseValue(dec, child, depth+1)
			if err != nil {
				return nil, err
			}
			seen[k] = true
			o.keys = append(o.keys, k)
			o.vals = append(o.vals, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, &DecodeError{Reason: "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
		}
		return o, nil
	case '[':
		var a []any
		for dec.More() {
			v, err := parseValue(dec, fmt.Sprintf("%s[%d]", path, len(a)), depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, &DecodeError{Reason: "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
		}
		if a == nil {
			a = []any{}
		}
		return a, nil
	}
	return nil, &DecodeError{Reason: fmt.Sprintf("invalid JSON: unexpected %v", d)}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindOf(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case *object:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "the number " + string(v)
	}
	return fmt.Sprintf("%T", v)
}

// fields reads the fields of one object, naming each by its path.
type fields struct {
	o    *object
	path string
}

func (f fields) name(k string) string { return joinPath(f.path, k) }

// only rejects keys outside allowed (in document order, so the reason is deterministic).
func (f fields) only(allowed ...string) error {
	for _, k := range f.o.keys {
		found := false
		for _, a := range allowed {
			if k == a {
				found = true
				break
			}
		}
		if !found {
			return fieldErr(f.name(k), "unknown field")
		}
	}
	return nil
}

// str reads a required string of 1..maxLen characters.
func (f fields) str(k string, maxLen int) (string, error) {
	v, ok := f.o.get(k)
	if !ok {
		return "", fieldErr(f.name(k), "is required")
	}
	s, ok := v.(string)
	if !ok {
		return "", fieldErr(f.name(k), "must be a string, got %s", kindOf(v))
	}
	if s == "" {
		return "", fieldErr(f.name(k), "must not be empty")
	}
	if n := utf8.RuneCountInString(s); n > maxLen {
		return "", fieldErr(f.name(k), "is %d characters, more than %d", n, maxLen)
	}
	return s, textErr(f.name(k), domain.CheckText(f.name(k), s, maxLen))
}

// textErr turns the domain's text check (the one shared by every entry) into a
// DecodeError naming field.
func textErr(field string, err error) error {
	if err == nil {
		return nil
	}
	return fieldErr(field, "%s", strings.TrimPrefix(err.Error(), field+" "))
}

// optStr reads a string that may be absent or null ("" then).
func (f fields) optStr(k string, maxLen int) (string, bool, error) {
	v, ok := f.o.get(k)
	if !ok || v == nil {
		return "", false, nil
	}
	s, err := f.str(k, maxLen)
	return s, true, err
}

// match reads a required string matching re (described by what).
func (f fields) match(k string, re *regexp.Regexp, what string) (string, error) {
	s, err := f.str(k, 256)
	if err != nil {
		return "", err
	}
	if !re.MatchString(s) {
		return "", fieldErr(f.name(k), "%q is not %s", s, what)
	}
	return s, nil
}

// integer reads a required integer in [lo, hi]; floats and exponents are refused.
func (f fields) integer(k string, lo, hi int64) (int64, error) {
	v, ok := f.o.get(k)
	if !ok {
		return 0, fieldErr(f.name(k), "is required")
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, fieldErr(f.name(k), "must be an integer, got %s", kindOf(v))
	}
	if strings.ContainsAny(string(n), ".eE") {
		return 0, fieldErr(f.name(k), "must be an integer, got %s", n)
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return 0, fieldErr(f.name(k), "integer %s is out of range", n)
	}
	if i < lo || i > hi {
		if i < 0 && lo >= 0 {
			return 0, fieldErr(f.name(k), "must not be negative, got %d", i)
		}
		return 0, fieldErr(f.name(k), "must be between %d and %d, got %d", lo, hi, i)
	}
	return i, nil
}

func (f fields) obj(k string) (fields, error) {
	v, ok := f.o.get(k)
	if !ok {
		return fields{}, fieldErr(f.name(k), "is required")
	}
	o, ok := v.(*object)
	if !ok {
		return fields{}, fieldErr(f.name(k), "must be an object, got %s", kindOf(v))
	}
	return fields{o: o, path: f.name(k)}, nil
}

var topFields = []string{"schema", "oem_id", "invoice_number", "revision", "kind", "credit_memo_for",
	"invoice_date", "currency", "customer", "deal_registration_id", "lines"}

func decodeMessage(root *object, m *Message) error {
	f := fields{o: root}
	var err error
	// The schema first: a message of another version gets that as its reason.
	if m.Schema, err = f.str("schema", 64); err != nil {
		return err
	}
	if m.Schema != SchemaV1 {
		return fieldErr("schema", "%q is not %q", m.Schema, SchemaV1)
	}
	if err := f.only(topFields...); err != nil {
		return err
	}
	if m.OEMID, err = f.match("oem_id", oemIDPattern, "an OEM id (lower case letters, digits, '_' or '-', at most 32)"); err != nil {
		return err
	}
	if m.InvoiceNumber, err = f.match("invoice_number", numberPattern, "an invoice number (letters, digits, '.', '_', '/', '-', at most 64)"); err != nil {
		return err
	}
	rev, err := f.integer("revision", 1, maxRevision)
	if err != nil {
		return err
	}
	m.Revision = int(rev)
	if m.Kind, err = f.str("kind", 32); err != nil {
		return err
	}
	if m.Kind != KindInvoice && m.Kind != KindCreditMemo {
		return fieldErr("kind", "%q is not %q or %q", m.Kind, KindInvoice, KindCreditMemo)
	}
	memoFor, present, err := f.optStr("credit_memo_for", 64)
	if err != nil {
		return err
	}
	switch {
	case m.Kind == KindCreditMemo && !present:
		return fieldErr("credit_memo_for", "is required for kind %q", KindCreditMemo)
	case m.Kind == KindInvoice && present:
		return fieldErr("credit_memo_for", "must be null for kind %q", KindInvoice)
	case present && !numberPattern.MatchString(memoFor):
		return fieldErr("credit_memo_for", "%q is not an invoice number", memoFor)
	case present && memoFor == m.InvoiceNumber:
		return fieldErr("credit_memo_for", "a credit memo cannot refer to itself")
	}
	m.CreditMemoFor = memoFor
	if m.InvoiceDate, err = f.match("invoice_date", datePattern, "a date (YYYY-MM-DD)"); err != nil {
		return err
	}
	d, err := domain.ParseDate(m.InvoiceDate)
	if err != nil {
		return fieldErr("invoice_date", "%q is not a calendar date", m.InvoiceDate)
	}
	if err := textErr("invoice_date", domain.CheckDate("invoice_date", d)); err != nil {
		return err
	}
	if m.Currency, err = f.str("currency", 3); err != nil {
		return err
	}
	if !ValidCurrency(m.Currency) {
		return fieldErr("currency", "%q is not an ISO 4217 currency code", m.Currency)
	}
	if err := decodeCustomer(f, &m.Customer); err != nil {
		return err
	}
	if m.DealRegistrationID, _, err = f.optStr("deal_registration_id", 64); err != nil {
		return err
	}
	return decodeLines(f, m)
}

func decodeCustomer(top fields, c *Customer) error {
	f, err := top.obj("customer")
	if err != nil {
		return err
	}
	if err := f.only("oem_account_id", "name", "country", "domain"); err != nil {
		return err
	}
	if c.OEMAccountID, err = f.str("oem_account_id", 64); err != nil {
		return err
	}
	if c.Name, err = f.str("name", 256); err != nil {
		return err
	}
	if c.Country, err = f.match("country", countryPattern, "an ISO 3166 alpha-2 country code"); err != nil {
		return err
	}
	if !domain.ValidCountry(c.Country) {
		return fieldErr(f.name("country"), "%q is not an assigned ISO 3166-1 alpha-2 country code", c.Country)
	}
	if c.Domain, _, err = f.optStr("domain", 253); err != nil {
		return err
	}
	return nil
}

func decodeLines(top fields, m *Message) error {
	v, ok := top.o.get("lines")
	if !ok {
		return fieldErr("lines", "is required")
	}
	arr, ok := v.([]any)
	if !ok {
		return fieldErr("lines", "must be an array, got %s", kindOf(v))
	}
	if len(arr) == 0 {
		return fieldErr("lines", "must have at least one line")
	}
	if len(arr) > MaxLines {
		return fieldErr("lines", "has %d lines, more than %d", len(arr), MaxLines)
	}
	m.Lines = make([]Line, 0, len(arr))
	seen := make(map[int64]int, len(arr))
	var total int64
	for i, item := range arr {
		path := fmt.Sprintf("lines[%d]", i)
		o, ok := item.(*object)
		if !ok {
			return fieldErr(path, "must be an object, got %s", kindOf(item))
		}
		f := fields{o: o, path: path}
		if err := f.only("line", "sku", "segment", "quantity", "unit_price_minor", "amount_minor"); err != nil {
			return err
		}
		var l Line
		n, err := f.integer("line", 1, maxLineNumber)
		if err != nil {
			return err
		}
		if j, dup := seen[n]; dup {
			return fieldErr(path+".line", "line number %d is also used by lines[%d]", n, j)
		}
		seen[n] = i
		l.Line = int(n)
		if l.SKU, err = f.match("sku", skuPattern, "a SKU (letters, digits, '.', '_', '/', '+', '-', at most 64)"); err != nil {
			return err
		}
		if l.Segment, err = f.str("segment", 32); err != nil {
			return err
		}
		if !ValidSegment(l.Segment) {
			return fieldErr(path+".segment", "%q is not one of %s", l.Segment, strings.Join(Segments, ", "))
		}
		if l.Quantity, err = f.integer("quantity", 1, domain.MaxQuantity); err != nil {
			return err
		}
		if l.UnitPriceMinor, err = f.integer("unit_price_minor", 0, domain.MaxAmountMinor); err != nil {
			return err
		}
		if l.AmountMinor, err = f.integer("amount_minor", 0, MaxLineAmount); err != nil {
			return err
		}
		if l.UnitPriceMinor != 0 && l.Quantity > math.MaxInt64/l.UnitPriceMinor {
			return fieldErr(path+".amount_minor", "quantity x unit_price_minor overflows 64-bit minor units")
		}
		if want := l.Quantity * l.UnitPriceMinor; l.AmountMinor != want {
			return fieldErr(path+".amount_minor", "must equal quantity x unit_price_minor = %d, got %d", want, l.AmountMinor)
		}
		if total += l.AmountMinor; total > domain.MaxAmountMinor {
			return fieldErr("lines", "the total amount passes %d minor units at %s.amount_minor", int64(domain.MaxAmountMinor), path)
		}
		m.Lines = append(m.Lines, l)
	}
	return nil
}
