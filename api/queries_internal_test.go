package api

import (
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
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
	if got := quoteShort(long); !utf8.ValidString(got) || !strings.HasSuffix(got, `..."`) {
		t.Errorf("quoteShort(41 x é) = %q: cut inside a character or not marked", got)
	}
	if got := quoteShort(`a"b`); got != `"a\"b"` {
		t.Errorf("quoteShort(a\"b) = %s, want the quote escaped", got)
	}
}
