package attribution

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"

	"dealcredit/domain"
)

// The stored form of the fold's records (domain.DealRecord, domain.InvoiceRecord,
// domain.Exception, domain.CoreRecord): the data columns of the state tables. It is
// this projection's format, not the domain's: a compact binary encoding derived from
// the record types, field by field in declaration order, so that a field added to a
// record is stored without a change here (and the projection's Version must bump, as
// for any change of what is stored):
//
//	byte 1          the format (recordFormat)
//	bool            one byte, 0 or 1
//	signed int      zig-zag varint
//	unsigned int    uvarint
//	string          uvarint length, then the bytes
//	domain.Date     zig-zag varint: 0 for no date, else days since 1970-01-01, plus 1
//	domain.Quarter  uvarint: 0 for no quarter, else year x 4 + quarter - 1, plus 1
//	slice, map      uvarint: 0 for nil, else 1 + the length; then the elements (a
//	                map's as key, value in key order)
//	pointer         byte 0 for nil, else 1 and the value
//	struct          its fields in order
//
// A type with an unexported field (other than Date and Quarter) or any other kind is
// refused when its codec is built, so no part of a record is ever left out silently.
const recordFormat = 1

var (
	dateType    = reflect.TypeFor[domain.Date]()
	quarterType = reflect.TypeFor[domain.Quarter]()
	epoch       = domain.NewDate(1970, 1, 1) // day 1
)

type (
	encodeFunc func(b []byte, v reflect.Value) []byte
	decodeFunc func(d *decoder, v reflect.Value)
)

// codec is the encoder and decoder of one type.
type codec struct {
	enc encodeFunc
	dec decodeFunc
}

var (
	codecsMu sync.Mutex
	codecs   = map[reflect.Type]*codec{}
)

// codecOf returns t's codec, built on first use.
func codecOf(t reflect.Type) (*codec, error) {
	codecsMu.Lock()
	defer codecsMu.Unlock()
	return buildCodec(t)
}

func buildCodec(t reflect.Type) (*codec, error) {
	if c, ok := codecs[t]; ok {
		return c, nil // a recursive type gets the codec being built
	}
	c := &codec{}
	codecs[t] = c
	if err := fillCodec(c, t); err != nil {
		delete(codecs, t)
		return nil, err
	}
	return c, nil
}

// fillCodec sets c to t's encoder and decoder.
func fillCodec(c *codec, t reflect.Type) error {
	switch t {
	case dateType:
		c.enc, c.dec = encodeDate, decodeDate
		return nil
	case quarterType:
		c.enc, c.dec = encodeQuarter, decodeQuarter
		return nil
	}
	switch t.Kind() {
	case reflect.Bool:
		c.enc, c.dec = encodeBool, decodeBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		c.enc, c.dec = encodeInt, decodeInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		c.enc, c.dec = encodeUint, decodeUint
	case reflect.String:
		c.enc, c.dec = encodeString, decodeString
	case reflect.Pointer:
		return fillPointer(c, t)
	case reflect.Slice:
		return fillSlice(c, t)
	case reflect.Map:
		return fillMap(c, t)
	case reflect.Struct:
		return fillStruct(c, t)
	default:
		return fmt.Errorf("attribution: stored form of %s: kind %s not supported", t, t.Kind())
	}
	return nil
}

func encodeDate(b []byte, v reflect.Value) []byte {
	d := *addr[domain.Date](v)
	if d.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, int64(epoch.DaysUntil(d))+1)
}

func decodeDate(d *decoder, v reflect.Value) {
	n := d.varint()
	if n == 0 || d.err != nil {
		*addr[domain.Date](v) = domain.Date{}
		return
	}
	*addr[domain.Date](v) = epoch.AddDays(int(n - 1))
}

func encodeQuarter(b []byte, v reflect.Value) []byte {
	q := *addr[domain.Quarter](v)
	if q.IsZero() {
		return binary.AppendUvarint(b, 0)
	}
	return binary.AppendUvarint(b, uint64(q.Year()*4+q.Number()-1)+1)
}

func decodeQuarter(d *decoder, v reflect.Value) {
	n := d.uvarint()
	if n == 0 || d.err != nil {
		*addr[domain.Quarter](v) = domain.Quarter{}
		return
	}
	n--
	q, err := domain.NewQuarter(int(n/4), int(n%4)+1)
	if err != nil {
		d.fail(err)
		return
	}
	*addr[domain.Quarter](v) = q
}

func encodeBool(b []byte, v reflect.Value) []byte {
	if v.Bool() {
		return append(b, 1)
	}
	return append(b, 0)
}

func decodeBool(d *decoder, v reflect.Value) {
	switch d.byte() {
	case 0:
		v.SetBool(false)
	case 1:
		v.SetBool(true)
	default:
		d.fail(errors.New("bool out of range"))
	}
}

func encodeInt(b []byte, v reflect.Value) []byte { return binary.AppendVarint(b, v.Int()) }

func decodeInt(d *decoder, v reflect.Value) {
	n := d.varint()
	if v.OverflowInt(n) {
		d.fail(fmt.Errorf("%d overflows %s", n, v.Type()))
		return
	}
	v.SetInt(n)
}

func encodeUint(b []byte, v reflect.Value) []byte { return binary.AppendUvarint(b, v.Uint()) }

func decodeUint(d *decoder, v reflect.Value) {
	n := d.uvarint()
	if v.OverflowUint(n) {
		d.fail(fmt.Errorf("%d overflows %s", n, v.Type()))
		return
	}
	v.SetUint(n)
}

func encodeString(b []byte, v reflect.Value) []byte {
	s := v.String()
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func decodeString(d *decoder, v reflect.Value) { v.SetString(d.string()) }

// fillPointer: byte 0 for nil, else 1 and the value.
func fillPointer(c *codec, t reflect.Type) error {
	elem, err := buildCodec(t.Elem())
	if err != nil {
		return err
	}
	c.enc = func(b []byte, v reflect.Value) []byte {
		if v.IsNil() {
			return append(b, 0)
		}
		return elem.enc(append(b, 1), v.Elem())
	}
	c.dec = func(d *decoder, v reflect.Value) {
		switch d.byte() {
		case 0:
			v.SetZero()
		case 1:
			p := reflect.New(t.Elem())
			elem.dec(d, p.Elem())
			v.Set(p)
		default:
			d.fail(errors.New("pointer flag out of range"))
		}
	}
	return nil
}

// fillSlice: 0 for nil, else 1 + the length, then the elements.
func fillSlice(c *codec, t reflect.Type) error {
	elem, err := buildCodec(t.Elem())
	if err != nil {
		return err
	}
	c.enc = func(b []byte, v reflect.Value) []byte {
		if v.IsNil() {
			return append(b, 0)
		}
		n := v.Len()
		b = binary.AppendUvarint(b, uint64(n)+1)
		for i := range n {
			b = elem.enc(b, v.Index(i))
		}
		return b
	}
	c.dec = func(d *decoder, v reflect.Value) {
		n, ok := d.length()
		if !ok {
			v.SetZero()
			return
		}
		s := reflect.MakeSlice(t, n, n)
		for i := 0; i < n && d.err == nil; i++ {
			elem.dec(d, s.Index(i))
		}
		v.Set(s)
	}
	return nil
}

// fillMap: 0 for nil, else 1 + the length, then key and value in key order.
func fillMap(c *codec, t reflect.Type) error {
	if t.Key().Kind() != reflect.String {
		return fmt.Errorf("attribution: stored form of %s: map keys must be strings", t)
	}
	key, err := buildCodec(t.Key())
	if err != nil {
		return err
	}
	elem, err := buildCodec(t.Elem())
	if err != nil {
		return err
	}
	c.enc = func(b []byte, v reflect.Value) []byte {
		if v.IsNil() {
			return append(b, 0)
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		b = binary.AppendUvarint(b, uint64(len(keys))+1)
		for _, k := range keys {
			b = elem.enc(key.enc(b, k), v.MapIndex(k))
		}
		return b
	}
	c.dec = func(d *decoder, v reflect.Value) {
		n, ok := d.length()
		if !ok {
			v.SetZero()
			return
		}
		m := reflect.MakeMapWithSize(t, n)
		k, e := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
		for i := 0; i < n && d.err == nil; i++ {
			key.dec(d, k)
			e.SetZero()
			elem.dec(d, e)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	}
	return nil
}

// fillStruct: the fields in order; every field must be exported.
func fillStruct(c *codec, t reflect.Type) error {
	fields := make([]*codec, t.NumField())
	for i := range fields {
		f := t.Field(i)
		if !f.IsExported() {
			return fmt.Errorf("attribution: stored form of %s: unexported field %s", t, f.Name)
		}
		fc, err := buildCodec(f.Type)
		if err != nil {
			return err
		}
		fields[i] = fc
	}
	c.enc = func(b []byte, v reflect.Value) []byte {
		for i, f := range fields {
			b = f.enc(b, v.Field(i))
		}
		return b
	}
	c.dec = func(d *decoder, v reflect.Value) {
		for i, f := range fields {
			if d.err != nil {
				return
			}
			f.dec(d, v.Field(i))
		}
	}
	return nil
}

// addr returns a pointer to v's value: v itself when addressable (a field, a slice
// element), else a copy (a map's value, only ever encoded).
func addr[T any](v reflect.Value) *T {
	if v.CanAddr() {
		return v.Addr().Interface().(*T)
	}
	x := v.Interface().(T)
	return &x
}

// decoder reads an encoding; its first error sticks and ends the decoding.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail(errors.New("truncated"))
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 {
		d.fail(errors.New("bad or truncated number"))
		return 0
	}
	d.b = d.b[k:]
	return n
}

// varint reads a zig-zag signed number (binary.AppendVarint's form) through uvarint.
func (d *decoder) varint() int64 {
	ux := d.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

// length reads a slice's or map's length; ok is false for nil (or an error). A length
// beyond the bytes left is an error, so corrupt data never allocates much.
func (d *decoder) length() (int, bool) {
	n := d.uvarint()
	if n == 0 || d.err != nil {
		return 0, false
	}
	if n-1 > uint64(len(d.b)) {
		d.fail(errors.New("length beyond the data"))
		return 0, false
	}
	return int(n - 1), true
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail(errors.New("string beyond the data"))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// encodeRecord appends v's stored form to b.
func encodeRecord[T any](b []byte, v *T) ([]byte, error) {
	c, err := codecOf(reflect.TypeFor[T]())
	if err != nil {
		return nil, err
	}
	return c.enc(append(b, recordFormat), reflect.ValueOf(v).Elem()), nil
}

// decodeRecord decodes a stored form into v; every byte must be used.
func decodeRecord[T any](data []byte, v *T) error {
	c, err := codecOf(reflect.TypeFor[T]())
	if err != nil {
		return err
	}
	if len(data) == 0 || data[0] != recordFormat {
		return fmt.Errorf("attribution: stored %s: not format %d", reflect.TypeFor[T](), recordFormat)
	}
	d := decoder{b: data[1:]}
	c.dec(&d, reflect.ValueOf(v).Elem())
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes left over", len(d.b))
	}
	if d.err != nil {
		return fmt.Errorf("attribution: stored %s: %w", reflect.TypeFor[T](), d.err)
	}
	return nil
}
