package oemfeed_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"dealcredit/consumers/oemfeed"
	"dealcredit/domain"
)

var update = flag.Bool("update", false, "rewrite the golden invoices in testdata/versions")

const versionsDir = "testdata/versions"

// TestVersions checks every schema version Decode selects: it has a JSON
// Schema in docs/schema titled with its name, and a golden message
// (testdata/versions/<version>.json) that the JSON Schema accepts and that
// Decode turns into the golden invoice (<version>.invoice.json, the event's
// body as domain.Encode writes it). A new version without these fails here,
// and so does a fixture without a version.
func TestVersions(t *testing.T) {
	versions := oemfeed.Schemas()
	if !slices.Contains(versions, oemfeed.SchemaV1) {
		t.Fatalf("Schemas() = %v, missing %s", versions, oemfeed.SchemaV1)
	}
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			raw, err := os.ReadFile(schemaFile(v))
			if err != nil {
				t.Fatalf("JSON Schema of %s: %v", v, err)
			}
			var doc struct {
				Title string `json:"title"`
			}
			if err := json.Unmarshal(raw, &doc); err != nil || doc.Title != v {
				t.Fatalf("%s: title %q, want %q (%v)", schemaFile(v), doc.Title, v, err)
			}
			body, err := os.ReadFile(filepath.Join(versionsDir, v+".json"))
			if err != nil {
				t.Fatalf("golden message of %s: %v", v, err)
			}
			if err := schemaAccepts(t, body); err != nil {
				t.Fatalf("the JSON Schema rejects the golden message: %v", err)
			}
			inv, err := oemfeed.Decode("", body)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if err := inv.Validate(); err != nil {
				t.Fatalf("the domain refuses the decoded invoice: %v", err)
			}
			if inv.Source != oemfeed.Subject(inv.OEMID) {
				t.Errorf("Source = %q, want %q", inv.Source, oemfeed.Subject(inv.OEMID))
			}
			_, _, got, err := domain.Encode(inv)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join(versionsDir, v+".invoice.json")
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("golden invoice (go test -run TestVersions -update writes it): %v", err)
			}
			if !bytes.Equal(got, bytes.TrimSpace(want)) {
				t.Errorf("decoded invoice differs from %s:\ngot  %s\nwant %s", golden, got, want)
			}
		})
	}
	entries, err := os.ReadDir(versionsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		v := strings.TrimSuffix(strings.TrimSuffix(e.Name(), ".json"), ".invoice")
		if !slices.Contains(versions, v) {
			t.Errorf("%s/%s: no decoder for schema version %q", versionsDir, e.Name(), v)
		}
	}
}

// TestSchemaSelection checks how Decode picks the decoder: by the "schema"
// member wherever it stands; a version without a decoder is a dead letter
// whose reason names the version and the ones there are.
func TestSchemaSelection(t *testing.T) {
	known := strings.Join(oemfeed.Schemas(), ", ")
	schemaLast := strings.Replace(validBody, `"schema": "dealcredit.oem_invoice.v1",`, ``, 1)
	schemaLast = strings.TrimSuffix(strings.TrimSpace(schemaLast), "}") + `, "schema": "dealcredit.oem_invoice.v1"}`
	for _, tc := range []struct {
		name, body string
		reason     string // "" when the body decodes
	}{
		{"schema last", schemaLast, ""},
		{"next version", replace(t, `"dealcredit.oem_invoice.v1"`, `"dealcredit.oem_invoice.v2"`),
			`field schema: "dealcredit.oem_invoice.v2" is not a schema this daemon decodes (` + known + `)`},
		{"an OEM's own format", `{"format": "acme-3", "schema": "acme.invoice.v3", "rows": []}`,
			`field schema: "acme.invoice.v3" is not a schema this daemon decodes (` + known + `)`},
		{"case differs", replace(t, `"dealcredit.oem_invoice.v1"`, `"Dealcredit.oem_invoice.v1"`),
			`field schema: "Dealcredit.oem_invoice.v1" is not a schema this daemon decodes (` + known + `)`},
		{"not a string", replace(t, `"dealcredit.oem_invoice.v1"`, `1`), `field schema: must be a string, got a number`},
		{"too long", replace(t, `"dealcredit.oem_invoice.v1"`, `"`+strings.Repeat("v", 65)+`"`), `field schema: is 65 characters, more than 64`},
		{"missing", `{"oem_id": "hp"}`, `field schema: is required`},
		{"name in other case", replace(t, `"schema":`, `"Schema":`), `field schema: is required`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := oemfeed.Decode(hpSubject, []byte(tc.body))
			if tc.reason == "" {
				if err != nil || inv.InvoiceNumber != "HP-2026-000123" {
					t.Fatalf("Decode = %+v, %v", inv, err)
				}
				return
			}
			var de *oemfeed.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode error %v, want a *DecodeError", err)
			}
			if de.Sentence() != tc.reason {
				t.Fatalf("reason %q, want %q", de.Sentence(), tc.reason)
			}
		})
	}
}
