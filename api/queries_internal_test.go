package api

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"dealcredit/domain"
	"dealcredit/projections/attribution"
)

func TestWantsCSV(t *testing.T) {
	tests := []struct {
		accept string
		want   bool
	}{
		{"", false},
		{"application/json", false},
		{"text/csv", true},
		{"application/json, text/csv;q=0.5", true},
		{"text/csv;q=0", false},
		{"text/csv;q=0.0", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/v1/attribution", nil)
		r.Header.Set("Accept", tt.accept)
		if got := wantsCSV(r); got != tt.want {
			t.Errorf("wantsCSV(Accept: %q) = %v, want %v", tt.accept, got, tt.want)
		}
	}
}

func TestQuoteShortKeepsUTF8AndEscapes(t *testing.T) {
	long := strings.Repeat("é", 41)
	if got := domain.Quote(long); !utf8.ValidString(got) || !strings.HasSuffix(got, `..."`) {
		t.Errorf("domain.Quote(41 x é) = %q: cut inside a character or not marked", got)
	}
	if got := domain.Quote(`a"b`); got != `"a\"b"` {
		t.Errorf("domain.Quote(a\"b) = %s, want the quote escaped", got)
	}
}

// A registration as GET /v1/deals serves it: unredacted, its JSON is the
// read model's row byte for byte; redacted for a partner, the other deals'
// ids are gone and a conflict says so without naming them.
func TestDealRowRedaction(t *testing.T) {
	tests := []struct {
		name      string
		conflicts []string
		notice    string
	}{
		{"conflict", []string{"d-other-1", "d-other-2"}, conflictNotice},
		{"no conflict", []string{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := attribution.Registration{DealID: "d-1", PartnerID: "var-b", Status: "conflict", Segments: []string{"support"}, Conflicts: tt.conflicts}
			plain := appendDealRow(nil, &g, false)
			if want, _ := json.Marshal(g); string(plain) != string(want) {
				t.Errorf("unredacted row\n got %s\nwant %s", plain, want)
			}
			b := appendDealRow(nil, &g, true)
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if c, ok := got["conflicts"].([]any); !ok || len(c) != 0 || strings.Contains(string(b), "d-other") {
				t.Errorf("redacted row shows conflicts: %s", b)
			}
			if n, _ := got["conflict"].(string); n != tt.notice {
				t.Errorf("redacted row's conflict = %q, want %q", n, tt.notice)
			}
			if !slices.Equal(g.Conflicts, tt.conflicts) {
				t.Errorf("redaction changed the read model's row: %v", g.Conflicts)
			}
		})
	}
}
