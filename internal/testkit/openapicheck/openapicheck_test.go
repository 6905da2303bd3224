package openapicheck

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBodyCheckFindsDisagreements shows the body check catches what it claims to.
func TestBodyCheckFindsDisagreements(t *testing.T) {
	schema := map[string]any{"type": "object", "required": []any{"a"}, "properties": map[string]any{
		"a": map[string]any{"type": "integer"},
		"b": map[string]any{"type": []any{"string", "null"}, "enum": []any{"x", "y"}},
		"c": map[string]any{"type": "array", "items": map[string]any{"type": "boolean"}},
	}}
	tests := []struct {
		body, want string
	}{
		{`{"a":1,"b":"x","c":[true]}`, ""},
		{`{"a":1,"b":null}`, ""},
		{`{"b":"x"}`, `required "a" is missing`},
		{`{"a":1.5}`, "number, the schema says [integer]"},
		{`{"a":"1"}`, "string, the schema says [integer]"},
		{`{"a":1,"b":"z"}`, `"z" is not one of`},
		{`{"a":1,"c":[1]}`, "body.c[0]: number, the schema says [boolean]"},
		{`{"a":1,"d":0}`, `"d" is not in the schema`},
		{`[]`, "array, the schema says [object]"},
	}
	for _, tt := range tests {
		dec := json.NewDecoder(strings.NewReader(tt.body))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		c := &bodyCheck{}
		c.validate("body", v, schema)
		got := strings.Join(c.errs, "\n")
		if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
			t.Errorf("%s: errors %q, want %q", tt.body, got, tt.want)
		}
	}
}
