package attribution

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"dealcredit/domain"
)

// filler sets every field of a value to something other than its zero value,
// each scalar different, so that a field the stored form leaves out or
// mixes up fails the round trip.
type filler struct{ n int }

func (f *filler) fill(v reflect.Value) {
	f.n++
	switch {
	case v.Type() == dateType:
		v.Set(reflect.ValueOf(domain.MustDate("1960-01-01").AddDays(f.n * 37)))
		return
	case v.Type() == quarterType:
		q, err := domain.NewQuarter(2000+f.n, f.n%4+1)
		if err != nil {
			panic(err)
		}
		v.Set(reflect.ValueOf(q))
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(-f.n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(f.n))
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d é\x00", f.n))
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem())
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			f.fill(s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range 3 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			f.fill(k)
			f.fill(e)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			f.fill(v.Field(i))
		}
	default:
		panic("filler: kind " + v.Kind().String())
	}
}

func filled[T any]() T {
	var v T
	(&filler{}).fill(reflect.ValueOf(&v).Elem())
	return v
}

// roundTrip checks that v survives its stored form exactly (nil and empty
// slices and maps told apart), that the encoding is deterministic, and that
// every truncation and a trailing byte are refused, never a panic.
func roundTrip[T any](t *testing.T, name string, v T) {
	t.Helper()
	data, err := encodeRecord(nil, &v)
	if err != nil {
		t.Fatalf("%s: encode: %v", name, err)
	}
	again, _ := encodeRecord(nil, &v)
	if !bytes.Equal(data, again) {
		t.Fatalf("%s: two encodings differ", name)
	}
	var got T
	if err := decodeRecord(data, &got); err != nil {
		t.Fatalf("%s: decode: %v", name, err)
	}
	if !reflect.DeepEqual(v, got) {
		t.Fatalf("%s: round trip differs\nwant %+v\ngot  %+v", name, v, got)
	}
	for n := 0; n < len(data); n++ {
		var x T
		if err := decodeRecord(data[:n], &x); err == nil {
			t.Fatalf("%s: the first %d of %d bytes decoded", name, n, len(data))
		}
	}
	var x T
	if err := decodeRecord(append(bytes.Clone(data), 0), &x); err == nil || !strings.Contains(err.Error(), "left over") {
		t.Fatalf("%s: a trailing byte: %v", name, err)
	}
}

func TestStoredFormRoundTripsEveryField(t *testing.T) {
	roundTrip(t, "deal", filled[domain.DealRecord]())
	roundTrip(t, "invoice", filled[domain.InvoiceRecord]())
	roundTrip(t, "exception", filled[domain.Exception]())
	roundTrip(t, "core", filled[domain.CoreRecord]())
	// Zero values: nil slices, maps and pointers, no dates.
	roundTrip(t, "zero deal", domain.DealRecord{})
	roundTrip(t, "zero invoice", domain.InvoiceRecord{})
	roundTrip(t, "zero core", domain.CoreRecord{})
	// Empty, not nil.
	roundTrip(t, "empty", domain.InvoiceRecord{Lines: []domain.LineRecord{{Memos: []domain.MemoRecord{},
		Partner: &domain.LinePartner{EngIDs: []string{}}}}})
	roundTrip(t, "extremes", domain.LineRecord{Line: -1 << 62, Amount: 1<<63 - 1, Policy: -1, Kind: 255})
}

func TestStoredFormRefusesCorruptData(t *testing.T) {
	good, err := encodeRecord(nil, &domain.LineRecord{Line: 1, Amount: 5})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not format"},
		{"other format", append([]byte{recordFormat + 1}, good[1:]...), "not format"},
		{"kind overflows uint8", []byte{recordFormat, 2, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0x1f}, "overflows"},
		{"slice longer than the data", []byte{recordFormat, 2, 0, 0, 0xff, 0xff, 0x03}, "beyond the data"},
		{"pointer flag", []byte{recordFormat, 2, 0, 10, 0, 0, 0, 7}, "pointer flag"},
	}
	for _, c := range cases {
		var l domain.LineRecord
		err := decodeRecord(c.data, &l)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
	}
}

func TestStoredFormRefusesTypesItCannotHoldWhole(t *testing.T) {
	type hidden struct {
		Shown  string
		hidden string
	}
	type withFunc struct{ F func() }
	if _, err := encodeRecord(nil, &hidden{Shown: "a", hidden: "b"}); err == nil || !strings.Contains(err.Error(), "unexported field hidden") {
		t.Errorf("unexported field: %v", err)
	}
	if _, err := encodeRecord(nil, &withFunc{}); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("func field: %v", err)
	}
}
