package oemfeed_test

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"dealcredit/consumers/oemfeed"
)

const schemaPath = "../../docs/schema/oem_invoice.v1.json"

// schemaFile is the JSON Schema document of a schema version:
// docs/schema/<version without "dealcredit.">.json.
func schemaFile(version string) string {
	return "../../docs/schema/" + strings.TrimPrefix(version, "dealcredit.") + ".json"
}

var (
	schemaMu sync.Mutex
	schemas  = map[string]*jsonschema.Schema{}
)

// mustSchema compiles the JSON Schema of a schema version with format
// assertions on.
func mustSchema(tb testing.TB, version string) *jsonschema.Schema {
	tb.Helper()
	schemaMu.Lock()
	defer schemaMu.Unlock()
	if s, ok := schemas[version]; ok {
		return s
	}
	path := schemaFile(version)
	f, err := os.Open(path)
	if err != nil {
		tb.Fatalf("schema of %s: %v", version, err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		tb.Fatalf("parse %s: %v", path, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(path, doc); err != nil {
		tb.Fatalf("add %s: %v", path, err)
	}
	s, err := c.Compile(path)
	if err != nil {
		tb.Fatalf("compile %s: %v", path, err)
	}
	schemas[version] = s
	return s
}

// schemaAccepts validates body against the JSON Schema of the version its
// "schema" member names (v1 when it names none).
func schemaAccepts(tb testing.TB, body []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return err
	}
	version := oemfeed.SchemaV1
	if o, ok := inst.(map[string]any); ok {
		if v, ok := o["schema"].(string); ok && slices.Contains(oemfeed.Schemas(), v) {
			version = v
		}
	}
	return mustSchema(tb, version).Validate(inst)
}

// TestSchemaAgreesWithDecoder checks every sample against the JSON Schema:
// the schema accepts all that the decoder accepts, and rejects what it can
// express (the rest, e.g. amount arithmetic, is documented in the schema's
// description and checked by the decoder only).
func TestSchemaAgreesWithDecoder(t *testing.T) {
	for _, s := range samples(t) {
		if s.schema == "skip" {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			err := schemaAccepts(t, []byte(s.body))
			if s.ok && err != nil {
				t.Fatalf("decoder accepts, schema rejects: %v", err)
			}
			switch {
			case s.schema == "ok" && err != nil:
				t.Fatalf("schema rejects: %v", err)
			case s.schema == "bad" && err == nil:
				t.Fatalf("schema accepts a message it should reject")
			}
		})
	}
}

// TestSchemaEnums keeps the schema's enumerations equal to the Go lists.
func TestSchemaEnums(t *testing.T) {
	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Properties struct {
			Currency struct {
				Enum []string `json:"enum"`
			} `json:"currency"`
		} `json:"properties"`
		Defs struct {
			Line struct {
				Properties struct {
					Segment struct {
						Enum []string `json:"enum"`
					} `json:"segment"`
				} `json:"properties"`
			} `json:"line"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(doc.Properties.Currency.Enum, oemfeed.Currencies) {
		t.Errorf("schema currencies differ from oemfeed.Currencies")
	}
	if !slices.Equal(doc.Defs.Line.Properties.Segment.Enum, oemfeed.Segments) {
		t.Errorf("schema segments %v differ from oemfeed.Segments %v", doc.Defs.Line.Properties.Segment.Enum, oemfeed.Segments)
	}
	if !slices.IsSorted(oemfeed.Currencies) {
		t.Errorf("oemfeed.Currencies is not sorted")
	}
}
