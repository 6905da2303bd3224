package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestPageJoin: --json --all prints one document with every page's
// exceptions and the last page's next; a single page is printed as sent.
func TestPageJoin(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pages []string
		want  string
	}{
		{"one page as sent", []string{`{"data": {"exceptions": [{"exception_id": "x1"}], "next": "x1"}, "position": 4}`},
			`{"data": {"exceptions": [{"exception_id": "x1"}], "next": "x1"}, "position": 4}`},
		{"three pages joined", []string{
			`{"data":{"exceptions":[{"exception_id":"x1"}],"next":"x1"},"head":9,"position":9}`,
			`{"data":{"exceptions":[{"exception_id":"x2"}],"next":"x2"},"head":9,"position":9}`,
			`{"data":{"exceptions":[{"exception_id":"x3","line":2}],"next":""},"head":10,"position":10}`},
			`{"data":{"exceptions":[{"exception_id":"x1"},{"exception_id":"x2"},{"exception_id":"x3","line":2}],"next":""},"head":10,"position":10}`},
		{"empty last page", []string{
			`{"data":{"exceptions":[{"exception_id":"x1"}],"next":"x1"},"position":3}`,
			`{"data":{"exceptions":[],"next":""},"position":3}`},
			`{"data":{"exceptions":[{"exception_id":"x1"}],"next":""},"position":3}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p pageJoin
			for _, page := range tc.pages {
				if err := p.add([]byte(page)); err != nil {
					t.Fatal(err)
				}
			}
			var out bytes.Buffer
			if err := p.print(&out); err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(out.String()); got != tc.want {
				t.Errorf("joined\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
	if err := new(pageJoin).add([]byte(`{"data":{"exceptions":{}}}`)); err == nil {
		t.Error("a page whose exceptions are not a list was taken")
	}
}
