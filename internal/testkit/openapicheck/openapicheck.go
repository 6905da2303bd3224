// Package openapicheck is a test kit: it validates the JSON answers tests
// receive from the API against api/openapi.json (the schema of the answer's
// route, status and media type), so a handler and the document cannot drift
// apart unnoticed. TestResponseTypesMatchOpenAPI in api checks the Go
// types; this checks the bodies the handlers actually write.
package openapicheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"dealcredit/api"
)

// openAPIDoc is api/openapi.json decoded, and a mux that finds the route
// pattern of a request path.
var openAPIDoc = sync.OnceValues(func() (map[string]any, *http.ServeMux) {
	var doc map[string]any
	if err := json.Unmarshal(api.OpenAPI, &doc); err != nil {
		panic(fmt.Sprintf("openapi.json: %v", err))
	}
	mux := http.NewServeMux()
	for _, rt := range api.Routes() {
		mux.HandleFunc(rt.Method+" "+rt.Path, func(http.ResponseWriter, *http.Request) {})
	}
	return doc, mux
})

// Body fails tb when a JSON answer to method path disagrees with the schema
// openapi.json gives for its route, status and media type: JSON types,
// required properties, no property the schema does not list (unless it
// allows more), enums, null only where allowed. Answers the document does
// not list (a status it does not name, CSV, no route) are not checked.
func Body(tb testing.TB, method, path string, status int, header http.Header, body []byte) {
	tb.Helper()
	mt, _, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil || !strings.HasSuffix(mt, "json") || len(bytes.TrimSpace(body)) == 0 {
		return
	}
	doc, mux := openAPIDoc()
	req, err := http.NewRequest(method, "http://api.test"+path, nil)
	if err != nil {
		return // a malformed path the tests send on purpose
	}
	_, pattern := mux.Handler(req)
	m, p, ok := strings.Cut(pattern, " ")
	if !ok {
		return // no route: the 404/405 answers are checked by their own tests
	}
	schema, _ := lookupJSON(doc, "paths", p, strings.ToLower(m), "responses", strconv.Itoa(status), "content", mt, "schema").(map[string]any)
	if schema == nil {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		tb.Errorf("%s %s: %d answer is not JSON: %v", method, path, status, err)
		return
	}
	c := &bodyCheck{doc: doc}
	c.validate("body", v, schema)
	if len(c.errs) > 0 {
		b := string(body)
		if len(b) > 600 {
			b = b[:600] + "..."
		}
		tb.Errorf("%s %s (%s %s %d) disagrees with openapi.json:\n\t%s\n\tbody: %s", method, path, m, p, status, strings.Join(c.errs, "\n\t"), b)
	}
}

type bodyCheck struct {
	doc  map[string]any
	errs []string
}

func (c *bodyCheck) errorf(where, format string, args ...any) {
	c.errs = append(c.errs, where+": "+fmt.Sprintf(format, args...))
}

func (c *bodyCheck) validate(where string, v any, s map[string]any) {
	for i := 0; i < 10; i++ {
		ref, ok := s["$ref"].(string)
		if !ok {
			break
		}
		s, _ = lookupJSON(c.doc, "components", "schemas", strings.TrimPrefix(ref, "#/components/schemas/")).(map[string]any)
		if s == nil {
			c.errorf(where, "unresolvable $ref %s", ref)
			return
		}
	}
	var allowed []string
	switch t := s["type"].(type) {
	case string:
		allowed = []string{t}
	case []any:
		for _, x := range t {
			allowed = append(allowed, x.(string))
		}
	}
	if len(allowed) == 0 {
		return // free-form
	}
	got := ""
	switch x := v.(type) {
	case nil:
		got = "null"
	case string:
		got = "string"
	case bool:
		got = "boolean"
	case json.Number:
		got = "number"
		if _, err := strconv.ParseInt(x.String(), 10, 64); err == nil && slices.Contains(allowed, "integer") {
			got = "integer"
		}
	case []any:
		got = "array"
	case map[string]any:
		got = "object"
	}
	if !slices.Contains(allowed, got) {
		c.errorf(where, "%s, the schema says %v", got, allowed)
		return
	}
	if enum, ok := s["enum"].([]any); ok && got == "string" && !slices.Contains(enum, v) {
		c.errorf(where, "%q is not one of %v", v, enum)
	}
	switch x := v.(type) {
	case []any:
		items, _ := s["items"].(map[string]any)
		for i, e := range x {
			if items != nil {
				c.validate(fmt.Sprintf("%s[%d]", where, i), e, items)
			}
		}
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := x[r.(string)]; !ok {
				c.errorf(where, "required %q is missing", r)
			}
		}
		for k, e := range x {
			if p, ok := props[k].(map[string]any); ok {
				c.validate(where+"."+k, e, p)
				continue
			}
			// A schema that lists properties lists them all (unless it
			// allows more); one without properties is a free-form object.
			switch extra := s["additionalProperties"].(type) {
			case bool:
				if !extra {
					c.errorf(where, "%q is not in the schema", k)
				}
			case map[string]any:
				c.validate(where+"."+k, e, extra)
			default:
				if props != nil {
					c.errorf(where, "%q is not in the schema", k)
				}
			}
		}
	}
}

// lookupJSON walks nested JSON objects by key; nil when a step is missing.
func lookupJSON(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
