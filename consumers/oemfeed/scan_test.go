package oemfeed

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// scanSeeds are JSON texts on both sides of the grammar's edges.
var scanSeeds = []struct {
	text string
	ok   bool // scanTree must accept it (and agree with the token walk)
}{
	{`{"schema":"dealcredit.oem_invoice.v1","oem_id":"hp","lines":[{"line":1,"quantity":100}]}`, true},
	{" \t\r\n{ \"a\" : [ 1 , -0 , 0.5 , 1e2 , 1E+2 , -1.5e-3 , true , false , null , \"\" ] } \n", true},
	{`{"a":{},"b":[],"c":[[]],"d":{"e":{}}}`, true},
	{`{"esc":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00"}`, true},
	{`{"bad surrogate":"\ud800x"}`, true},
	{`"just a string"`, true},
	{`12`, true},
	{`[1,2,3]`, true},
	{`{"dup":1,"dup":2}`, false},
	{`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"a":18}`, false},
	{`[[[[[[[[[1]]]]]]]]]`, false},
	{`[[[[[[[[1]]]]]]]]`, true},
	{`{"a":01}`, false},
	{`{"a":1.}`, false},
	{`{"a":.5}`, false},
	{`{"a":-}`, false},
	{`{"a":1e}`, false},
	{`{"a":+1}`, false},
	{`{"a":NaN}`, false},
	{`{"a":tru}`, false},
	{`{"a":1,}`, false},
	{`[1,]`, false},
	{`{"a" 1}`, false},
	{`{a:1}`, false},
	{"{\"a\":\"x\ty\"}", false},
	{`{"a":"\x"}`, false},
	{`{"a":"\u12"}`, false},
	{`{"a":"unterminated}`, false},
	{`{"a":1}{}`, false},
	{`{"a":1} x`, false},
	{``, false},
	{`   `, false},
	{`{`, false},
	{`}`, false},
}

func checkScan(t *testing.T, text []byte) (scanned bool) {
	t.Helper()
	fast, ok := scanTree(text)
	slow, err := parseTreeTokens(text)
	if !ok {
		return false
	}
	if err != nil {
		t.Fatalf("scanTree accepted %q, the token walk refused it: %v", text, err)
	}
	if !sameTree(fast, slow) {
		t.Fatalf("trees of %q differ:\nscan   %#v\ntokens %#v", text, fast, slow)
	}
	return true
}

// sameTree compares two parsed trees by value (an empty object's slices may
// be nil or not).
func sameTree(a, b any) bool {
	switch a := a.(type) {
	case *object:
		b, ok := b.(*object)
		if !ok || len(a.keys) != len(b.keys) || !slices.Equal(a.keys, b.keys) {
			return false
		}
		for i := range a.vals {
			if !sameTree(a.vals[i], b.vals[i]) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || a == nil || b == nil || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameTree(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// TestScanTree checks that the fast scanner builds the token walk's tree
// for well-formed texts and refuses the others.
func TestScanTree(t *testing.T) {
	big := `{`
	for i := range 40 {
		big += `"k` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `":1,`
	}
	big = strings.TrimSuffix(big, ",") + `}`
	seeds := append(scanSeeds, struct {
		text string
		ok   bool
	}{big, true})
	for _, s := range seeds {
		if got := checkScan(t, []byte(s.text)); got != s.ok {
			t.Errorf("scanTree(%q) ok = %v, want %v", s.text, got, s.ok)
		}
	}
}

// FuzzScanTree checks that whatever scanTree accepts, the token walk
// accepts too, with the same tree: the fast path is never laxer.
func FuzzScanTree(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s.text))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		if !utf8.Valid(text) {
			return // Decode refuses invalid UTF-8 before parsing
		}
		checkScan(t, text)
	})
}

// BenchmarkParseTree compares the one-pass scanner with the token walk on
// generated 3-line invoices.
func BenchmarkParseTree(b *testing.B) {
	feed := GenerateMessages(GenOptions{Seed: 1, Invoices: 1000, OEMs: []string{"hp"}, Lines: 3})
	for _, p := range []struct {
		name  string
		parse func([]byte) (any, error)
	}{
		{"scan", parseTree},
		{"tokens", parseTreeTokens},
	} {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := p.parse(feed[i%len(feed)].Body); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "us/msg")
		})
	}
}
