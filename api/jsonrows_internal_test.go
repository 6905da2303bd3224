package api

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http/httptest"
	"reflect"
	"testing"

	"dealcredit/projections/attribution"
)

// jsonSamples are strings that exercise every escape of encoding/json.
var jsonSamples = []string{"", "plain", `a"b\c/d`, "<script>&amp;", "\x00\x01\x08\x0c\n\r\t\x1f\x7f", "é ü 日本 🙂",
	"\u2028x\u2029", "\xff\xfe bad", "cut \xe2\x82", "var-0", "2026Q1"}

// FuzzAppendString holds appendString to encoding/json's bytes for any text.
func FuzzAppendString(f *testing.F) {
	for _, s := range jsonSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}

// The hand-written row encoders write exactly what encoding/json writes
// for the same values, whatever the fields hold (escapes, nil and empty
// slices, an absent flag), so the answers did not change by leaving
// reflection; a field added to the rows without its encoder fails here.
func TestRowEncodersMatchEncodingJSON(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		var g attribution.Registration
		fill(rnd, reflect.ValueOf(&g).Elem())
		for _, redact := range []bool{false, true} {
			want := dealRow{Registration: g}
			if redact {
				if len(g.Conflicts) > 0 {
					want.Conflict = conflictNotice
				}
				want.Conflicts = []string{}
			}
			if exp, _ := json.Marshal(want); !bytes.Equal(appendDealRow(nil, &g, redact), exp) {
				t.Fatalf("deal row %d (redact %v):\n got %s\nwant %s", i, redact, appendDealRow(nil, &g, redact), exp)
			}
		}
		var s attribution.Statement
		fill(rnd, reflect.ValueOf(&s).Elem())
		if exp, _ := json.Marshal(s); !bytes.Equal(appendStatement(nil, &s), exp) {
			t.Fatalf("statement %d:\n got %s\nwant %s", i, appendStatement(nil, &s), exp)
		}
	}
}

// writeRows writes the answer writeJSON writes for the same queryResult
// (and dealsAnswer's next_after), stopped or not, with rows or none.
func TestWriteRowsMatchesWriteJSON(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	stopped := &StoppedAt{Position: 8, EventID: "e<1>", Type: "deal.registered", Reason: "bad \"event\""}
	for _, tt := range []struct {
		n       int
		stopped *StoppedAt
		next    string
	}{{0, nil, ""}, {1, stopped, ""}, {3, nil, "d-3"}, {-1, nil, ""}} {
		var regs []attribution.Registration
		if tt.n >= 0 {
			regs = make([]attribution.Registration, tt.n)
		}
		for i := range regs {
			fill(rnd, reflect.ValueOf(&regs[i]).Elem())
		}
		rm := ReadModel{Position: 7, Head: 9, Stopped: tt.stopped}
		got := httptest.NewRecorder()
		writeRows(got, rm, regs, func(b []byte, g *attribution.Registration) []byte { return appendDealRow(b, g, false) }, tt.next)
		var rows []dealRow
		if regs != nil {
			rows = make([]dealRow, len(regs))
			for i, g := range regs {
				rows[i] = dealRow{Registration: g}
			}
		}
		want := httptest.NewRecorder()
		setStaleness(want, rm)
		writeJSON(want, 200, dealsAnswer{queryResult: queryResult[[]dealRow]{Position: 7, Head: 9, Stopped: tt.stopped, Data: rows}, NextAfter: tt.next})
		if !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) || !reflect.DeepEqual(got.Header(), want.Header()) {
			t.Errorf("%d rows, stopped %v, next %q:\n got %v %s\nwant %v %s", tt.n, tt.stopped != nil, tt.next, got.Header(), got.Body, want.Header(), want.Body)
		}
	}
}

// fill sets every field of v (a struct) to a random value: strings from
// jsonSamples, slices nil, empty or not, pointers nil or set.
func fill(rnd *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(jsonSamples[rnd.IntN(len(jsonSamples))])
	case reflect.Int, reflect.Int64:
		v.SetInt(rnd.Int64N(1<<40) - 1<<39)
	case reflect.Bool:
		v.SetBool(rnd.IntN(2) == 0)
	case reflect.Slice:
		switch n := rnd.IntN(4); n {
		case 0:
			v.SetZero()
		default:
			v.Set(reflect.MakeSlice(v.Type(), n-1, n-1))
			for i := range n - 1 {
				fill(rnd, v.Index(i))
			}
		}
	case reflect.Pointer:
		if rnd.IntN(2) == 0 {
			v.SetZero()
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(rnd, v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			fill(rnd, v.Field(i))
		}
	default:
		panic("fill: unhandled kind " + v.Kind().String())
	}
}
