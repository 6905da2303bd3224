package jsonfield_test

import (
	"bytes"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"dealcredit/internal/jsonfield"
)

func TestPath(t *testing.T) {
	for _, tc := range []struct {
		pointer jsontext.Pointer
		want    string
	}{
		{"", ""},
		{"/oem_id", "oem_id"},
		{"/customer/name", "customer.name"},
		{"/lines/0/sku", "lines[0].sku"},
		{"/lines/12", "lines[12]"},
		{"/a~1b/c~0d", "a/b.c~d"},
	} {
		if got := jsonfield.Path(tc.pointer); got != tc.want {
			t.Errorf("Path(%q) = %q, want %q", tc.pointer, got, tc.want)
		}
	}
}

func TestDuplicate(t *testing.T) {
	for _, tc := range []struct {
		text, field string
		dup         bool
	}{
		{`{"a":1,"a":2}`, "a", true},
		{`{"a":{"b":[{"c":1},{"c":1,"c":2}]}}`, "a.b[1].c", true},
		{`{"a":1,"b":2}`, "", false},
		{`{"a":`, "", false},
	} {
		_, err := jsontext.NewDecoder(bytes.NewBufferString(tc.text)).ReadValue()
		field, dup := jsonfield.Duplicate(err)
		if field != tc.field || dup != tc.dup {
			t.Errorf("Duplicate(error of %s) = %q, %v; want %q, %v (error %v)", tc.text, field, dup, tc.field, tc.dup, err)
		}
	}
}
