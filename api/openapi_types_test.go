package api

import (
	"encoding"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"dealcredit/domain"
	"dealcredit/projections/attribution"
	"dealcredit/projections/leads"
)

// responseTypes names the Go type each JSON answer of each route encodes,
// by "METHOD path status" as api/openapi.json lists them. Problem answers
// (application/problem+json) are Problem and need no entry.
var responseTypes = map[string]any{
	"GET /healthz 200":      health{},
	"GET /readyz 200":       readiness{},
	"GET /readyz 503":       readiness{},
	"GET /openapi.json 200": json.RawMessage{}, // the document itself

	"POST /v1/partners 201":                     commandResult{},
	"POST /v1/partners:grandfather 201":         grandfathered{},
	"POST /v1/partners:grandfather 207":         grandfathered{},
	"POST /v1/partners/{id}/certifications 201": certResult{},
	"POST /v1/partners/{id}/commitments 201":    commandResult{},
	"POST /v1/partners/{id}/tier 200":           commandResult{},
	"GET /v1/partners/{id} 200":                 partnerView{},
	"PUT /v1/geographies/{geo}/seats 200":       commandResult{},
	"GET /v1/geographies/{geo}/seats 200":       queryResult[leads.GeoSeats]{},

	"POST /v1/deals 201":                      dealCreated{},
	"GET /v1/deals 200":                       dealsAnswer{},
	"GET /v1/deals/{id} 200":                  dealView{},
	"POST /v1/deals/{id}/approve 200":         commandResult{},
	"POST /v1/deals/{id}/reject 200":          commandResult{},
	"POST /v1/deals/{id}/withdraw 200":        commandResult{},
	"POST /v1/deals/{id}/extend 200":          commandResult{},
	"POST /v1/deals/{id}/override 200":        commandResult{},
	"POST /v1/deals/{id}/engagements 201":     commandResult{},
	"POST /v1/deals/{id}/service-handoff 200": commandResult{},

	"POST /v1/leads 201":              leadResult{},
	"GET /v1/leads/{id} 200":          leadView{},
	"POST /v1/leads/{id}/accept 200":  leadResult{},
	"POST /v1/leads/{id}/reject 200":  leadResult{},
	"POST /v1/leads/{id}/cascade 200": leadResult{},

	"PUT /v1/policy 200":                    commandResult{},
	"GET /v1/policy 200":                    policyView{},
	"POST /v1/quarters/{quarter}/close 200": commandResult{},

	"GET /v1/attribution 200":                        queryResult[[]attribution.LedgerLine]{},
	"GET /v1/attribution/explain 200":                queryResult[attribution.Explanation]{},
	"GET /v1/partners/{id}/statements/{quarter} 200": queryResult[[]attribution.Statement]{},
	"GET /v1/revenue-mix 200":                        queryResult[[]attribution.Mix]{},
	"GET /v1/events 200":                             eventPage{},

	"POST /v1/fx-rates 200":                                    commandResult{},
	"GET /v1/fx-rates 200":                                     fxRateList{},
	"GET /v1/revenue-mix/reporting 200":                        queryResult[domain.ReportedMix]{},
	"GET /v1/partners/{id}/statements/{quarter}/reporting 200": queryResult[domain.ReportedStatement]{},

	// Issue 15: deal outcomes, the list of leads, field reps.
	"POST /v1/deals/{id}/won 200":                commandResult{},
	"POST /v1/deals/{id}/lost 200":               commandResult{},
	"POST /v1/deals/{id}/return 200":             commandResult{},
	"POST /v1/deals/{id}/resubmit 200":           commandResult{},
	"GET /v1/leads 200":                          queryResult[leads.Page]{},
	"PUT /v1/reps/{id} 200":                      commandResult{},
	"GET /v1/reps/{id}/statements/{quarter} 200": queryResult[[]attribution.RepStatement]{},

	"GET /v1/exceptions 200":                                   queryResult[exceptionPage]{},
	"POST /v1/exceptions/{id}/assign 200":                      commandResult{},
	"POST /v1/exceptions/{id}/dismiss 200":                     commandResult{},
	"POST /v1/exceptions/{id}/reopen 200":                      commandResult{},
	"POST /v1/partners/{id}/statements/{quarter}/approve 200":  commandResult{},
	"POST /v1/partners/{id}/statements/{quarter}/payouts 201":  commandResult{},
	"POST /v1/partners/{id}/certifications/{cert}/confirm 200": certResult{},
	"POST /v1/partners/{id}/certifications/{cert}/refuse 200":  certResult{},

	"POST /v1/admin/import 200": ImportAnswer{},

	// Tier reviews (issue 15 item 3).
	"POST /v1/reviews/{quarter} 200":                           reviewRun{},
	"POST /v1/reviews/{quarter} 201":                           reviewRun{},
	"GET /v1/reviews/{quarter} 200":                            reviewView{},
	"POST /v1/reviews/{quarter}/apply 200":                     reviewApplied{},
	"POST /v1/reviews/{quarter}/apply 207":                     reviewApplied{},
	"POST /v1/reviews/{quarter}/proposals/{partner}/apply 200": proposalApplied{},
}

// TestResponseTypesMatchOpenAPI fails when a JSON answer of a route and its
// schema in openapi.json disagree: a field the type encodes that the schema
// lacks or the other way round, a JSON type (string, integer, number,
// boolean, array, object), a field always present that is not required or
// one that may be absent that is, a field that may be null whose schema
// does not allow null or the other way round, a time's format. Every JSON
// answer of every route must name its Go type in responseTypes.
func TestResponseTypesMatchOpenAPI(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]struct {
					Schema map[string]any `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	c := &schemaCheck{schemas: doc.Components.Schemas}
	used := map[string]bool{}
	var checked int
	for _, rt := range Routes() {
		op, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("%s %s: not in openapi.json", rt.Method, rt.Path)
			continue
		}
		for _, status := range slices.Sorted(maps.Keys(op.Responses)) {
			content := op.Responses[status].Content
			for _, ct := range slices.Sorted(maps.Keys(content)) {
				schema := content[ct].Schema
				var v any
				switch ct {
				case "application/problem+json":
					v = Problem{}
				case "application/json":
					key := rt.Method + " " + rt.Path + " " + status
					var ok bool
					if v, ok = responseTypes[key]; !ok {
						t.Errorf("%s: no Go type in responseTypes", key)
						continue
					}
					used[key] = true
				default:
					continue // text/csv, text/plain: not JSON
				}
				where := rt.Method + " " + rt.Path + " " + status + " " + ct + " body"
				c.errs = nil
				c.compare(where, schema, reflect.TypeOf(v), false)
				for _, e := range c.errs {
					t.Error(e)
				}
				checked++
			}
		}
	}
	for key := range responseTypes {
		if !used[key] {
			t.Errorf("responseTypes names %q, which openapi.json does not document", key)
		}
	}
	if checked < len(Routes()) {
		t.Fatalf("checked %d JSON answers for %d routes", checked, len(Routes()))
	}
}

// TestSchemaCheckFindsDisagreements shows the comparison catches each kind
// of disagreement it claims to.
func TestSchemaCheckFindsDisagreements(t *testing.T) {
	type inner struct {
		N int `json:"n"`
	}
	type answer struct {
		Name   string      `json:"name"`
		Count  int64       `json:"count"`
		Tags   []string    `json:"tags"`
		Note   string      `json:"note,omitempty"`
		Cap    *int        `json:"cap"`
		At     time.Time   `json:"at"`
		On     domain.Date `json:"on"`
		Inner  inner       `json:"inner"`
		Ignore int         `json:"-"`
	}
	good := `{"type":"object","required":["name","count","tags","cap","at","on","inner"],"properties":{
		"name":{"type":"string"},"count":{"type":"integer"},"tags":{"type":"array","items":{"type":"string"}},
		"note":{"type":"string"},"cap":{"type":["integer","null"]},"at":{"type":"string","format":"date-time"},
		"on":{"type":"string","format":"date"},"inner":{"$ref":"#/components/schemas/Inner"}}}`
	inner0 := `{"type":"object","required":["n"],"properties":{"n":{"type":"integer"}}}`
	tests := []struct {
		name, old, new, inner string
		want                  string // "" = agrees
	}{
		{"agrees", "", "", inner0, ""},
		{"missing field", `"note":{"type":"string"},`, ``, inner0, "note: encoded but not in the schema"},
		{"extra field", `"name":{"type":"string"},`, `"name":{"type":"string"},"nick":{"type":"string"},`, inner0, "nick: in the schema but not encoded"},
		{"json type", `"count":{"type":"integer"}`, `"count":{"type":"string"}`, inner0, "count: type [string], want integer"},
		{"number for an integer", `"count":{"type":"integer"}`, `"count":{"type":"number"}`, inner0, "count: type [number], want integer"},
		{"not required", `"required":["name","count",`, `"required":["count",`, inner0, "name: always present but not required"},
		{"omitempty required", `"inner"],"properties"`, `"inner","note"],"properties"`, inner0, "note: may be absent but is required"},
		{"null not allowed", `"cap":{"type":["integer","null"]}`, `"cap":{"type":"integer"}`, inner0, "cap: may be null but the schema does not allow null"},
		{"null allowed", `"name":{"type":"string"}`, `"name":{"type":["string","null"]}`, inner0, "name: never null but the schema allows null"},
		{"array items", `"items":{"type":"string"}`, `"items":{"type":"integer"}`, inner0, "tags[]: type [integer], want string"},
		{"time format", `"format":"date-time"`, `"format":"date"`, inner0, `at: format "date", want "date-time"`},
		{"through a ref", "", "", `{"type":"object","required":["n"],"properties":{"n":{"type":"boolean"}}}`, "inner.n: type [boolean], want integer"},
		{"untyped", `"name":{"type":"string"}`, `"name":{}`, inner0, "name: type [], want string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(good, tt.old, tt.new, 1)
			if tt.old != "" && src == good {
				t.Fatalf("%q is not in the schema", tt.old)
			}
			var schema, in map[string]any
			if err := json.Unmarshal([]byte(src), &schema); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tt.inner), &in); err != nil {
				t.Fatal(err)
			}
			c := &schemaCheck{schemas: map[string]map[string]any{"Inner": in}}
			c.compare("x", schema, reflect.TypeOf(answer{}), false)
			got := strings.Join(c.errs, "\n")
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, "x."+tt.want) {
				t.Errorf("errors:\n%s\nwant %q", got, tt.want)
			}
		})
	}
	c := &schemaCheck{}
	c.compare("x", map[string]any{"type": "object"}, reflect.TypeOf(struct {
		V any `json:"v"`
	}{}), false)
	if len(c.errs) == 0 {
		t.Error("a field of type any passed")
	}
}

// schemaCheck compares Go types with the schemas of doc.
type schemaCheck struct {
	schemas map[string]map[string]any // the document's components.schemas
	errs    []string
}

func (c *schemaCheck) errorf(where, format string, args ...any) {
	c.errs = append(c.errs, where+": "+fmt.Sprintf(format, args...))
}

var (
	rawMessage    = reflect.TypeOf(json.RawMessage{})
	timeType      = reflect.TypeOf(time.Time{})
	dateType      = reflect.TypeOf(domain.Date{})
	textMarshaler = reflect.TypeOf((*encoding.TextMarshaler)(nil)).Elem()
	jsonMarshaler = reflect.TypeOf((*json.Marshaler)(nil)).Elem()
)

// resolve follows $ref to the schema of components.
func (c *schemaCheck) resolve(where string, s map[string]any) map[string]any {
	for i := 0; i < 10; i++ {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		name, ok := strings.CutPrefix(ref, "#/components/schemas/")
		target := c.schemas[name]
		if !ok || target == nil {
			c.errorf(where, "unresolvable $ref %q", ref)
			return map[string]any{}
		}
		s = target
	}
	c.errorf(where, "$ref chain too long")
	return map[string]any{}
}

// types returns the JSON types the schema allows, null aside, and whether it allows null.
func types(s map[string]any) (ts []string, null bool) {
	switch v := s["type"].(type) {
	case string:
		ts = []string{v}
	case []any:
		for _, x := range v {
			if str, _ := x.(string); str == "null" {
				null = true
			} else {
				ts = append(ts, str)
			}
		}
	}
	return ts, null
}

// compare checks that the schema s describes what encoding/json makes of a
// value of type t; nullable says the value may be null (a pointer field
// without omitempty).
func (c *schemaCheck) compare(where string, s map[string]any, t reflect.Type, nullable bool) {
	if s == nil {
		c.errorf(where, "no schema")
		return
	}
	s = c.resolve(where, s)
	if t == rawMessage {
		return // raw JSON: any schema
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	ts, null := types(s)
	if nullable && !null {
		c.errorf(where, "may be null but the schema does not allow null")
	}
	if !nullable && null {
		c.errorf(where, "never null but the schema allows null")
	}
	want := jsonType(t)
	if want == "" {
		c.errorf(where, "Go type %s has no precise JSON form (any, func, channel)", t)
		return
	}
	if len(ts) != 1 || ts[0] != want {
		c.errorf(where, "type %v, want %s (Go %s)", ts, want, t)
		return
	}
	switch {
	case t == timeType:
		c.format(where, s, "date-time")
	case t == dateType:
		c.format(where, s, "date")
	case want == "array":
		items, _ := s["items"].(map[string]any)
		c.compare(where+"[]", items, t.Elem(), false)
	case want == "object" && t.Kind() == reflect.Map:
		if extra, ok := s["additionalProperties"].(map[string]any); ok {
			c.compare(where+"{}", extra, t.Elem(), false)
		}
		props, _ := s["properties"].(map[string]any)
		for _, name := range slices.Sorted(maps.Keys(props)) {
			p, _ := props[name].(map[string]any)
			c.compare(where+"."+name, p, t.Elem(), false)
		}
	case want == "object":
		c.object(where, s, t)
	}
}

func (c *schemaCheck) format(where string, s map[string]any, want string) {
	if f, _ := s["format"].(string); f != want {
		c.errorf(where, "format %q, want %q", f, want)
	}
}

// object compares a struct's encoded fields with the schema's properties.
func (c *schemaCheck) object(where string, s map[string]any, t reflect.Type) {
	props, _ := s["properties"].(map[string]any)
	var required []string
	reqs, _ := s["required"].([]any)
	for _, r := range reqs {
		required = append(required, r.(string))
	}
	fields := jsonFields(t)
	for _, f := range fields {
		at := where + "." + f.name
		p, ok := props[f.name].(map[string]any)
		if !ok {
			c.errorf(at, "encoded but not in the schema")
			continue
		}
		req := slices.Contains(required, f.name)
		if !f.omitempty && !req {
			c.errorf(at, "always present but not required")
		}
		if f.omitempty && req {
			c.errorf(at, "may be absent but is required")
		}
		c.compare(at, p, f.typ, f.typ.Kind() == reflect.Pointer && !f.omitempty)
	}
	for _, name := range slices.Sorted(maps.Keys(props)) {
		if !slices.ContainsFunc(fields, func(f jsonField) bool { return f.name == name }) {
			c.errorf(where+"."+name, "in the schema but not encoded")
		}
	}
}

// jsonType is the JSON type encoding/json writes for t ("" when none is precise).
func jsonType(t reflect.Type) string {
	switch {
	case t == timeType:
		return "string"
	case t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler):
		return marshaledType(t)
	case t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler):
		return "string"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "string" // base64
		}
		return "array"
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return ""
		}
		return "object"
	case reflect.Struct:
		return "object"
	}
	return ""
}

// marshaledType encodes t's zero value with its own MarshalJSON and names
// the JSON type it wrote (only scalars are precise enough to compare).
func marshaledType(t reflect.Type) string {
	b, err := json.Marshal(reflect.New(t).Interface())
	if err != nil || len(b) == 0 {
		return ""
	}
	switch b[0] {
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	}
	if _, err := strconv.ParseFloat(string(b), 64); err == nil {
		return "number"
	}
	return ""
}

type jsonField struct {
	name      string
	typ       reflect.Type
	omitempty bool
}

// jsonFields lists the fields encoding/json writes for struct t, embedded
// structs' fields promoted (ours carry no conflicting names).
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, typ: f.Type, omitempty: slices.Contains(strings.Split(opts, ","), "omitempty")})
	}
	return out
}
