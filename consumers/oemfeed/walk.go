package oemfeed

import (
	"bytes"
	"io"
	"sync"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"dealcredit/internal/jsonfield"
)

// optString is a string member as decoded: ok is false when it is missing
// or null.
type optString struct {
	s  string
	ok bool
}

// optInt is an integer member as decoded: ok is false when it is missing or
// null.
type optInt struct {
	n  int64
	ok bool
}

// walker decodes one body into a version's Go struct by walking its tokens
// with jsontext's decoder, without reflection. It is as strict as
// json.Unmarshal with RejectUnknownMembers into a struct of pointers (the
// decoder it replaced) and reports the same first error in document order,
// in the same words: the decoder itself refuses bad syntax and duplicate
// names (jsonErr); the walker refuses unknown members, values of the wrong
// kind and integers that are fractional, written with an exponent or out of
// range. A differential fuzz test compared the two while both existed
// (FuzzWalkMatchesUnmarshal, in the history).
type walker struct {
	d    jsontext.Decoder
	in   bytes.Buffer // aliases body: the decoder reads a *bytes.Buffer without copying
	body []byte
	// str is body as one string: a string value without escapes is a
	// substring of it, so the members of a message cost one allocation.
	str string
}

var walkers = sync.Pool{New: func() any { return new(walker) }}

// walk calls decode with a walker positioned at the start of body and
// returns its error, after checking that nothing but whitespace follows the
// top-level value.
func walk(body []byte, decode func(w *walker) error) error {
	w := walkers.Get().(*walker)
	w.in = *bytes.NewBuffer(body)
	w.body, w.str = body, string(body)
	w.d.Reset(&w.in, jsonOptions)
	err := decode(w)
	if err == nil {
		err = w.end()
	}
	w.in, w.body, w.str = bytes.Buffer{}, nil, ""
	w.d.Reset(&w.in) // drop the decoder's reference to body
	walkers.Put(w)
	return err
}

// end refuses anything but whitespace after the top-level value, with the
// library's error for it.
func (w *walker) end() error {
	if len(bytes.TrimLeft(w.d.UnreadBuffer(), " \t\r\n")) == 0 {
		return nil
	}
	// The value itself is valid (it was walked), so the library reports
	// the trailing data, at the same offset and in the same words.
	if err := json.Unmarshal(w.body, new(jsontext.Value), jsonOptions); err != nil {
		return jsonErr(err)
	}
	return &DecodeError{Reason: "invalid JSON: data after the top-level value"}
}

// syntax turns an error of the decoder into a *DecodeError; running out of
// input before a top-level value is an unexpected EOF, as in json.Unmarshal.
func (w *walker) syntax(err error) error {
	if err == io.EOF {
		err = &jsontext.SyntacticError{ByteOffset: w.d.InputOffset() + int64(len(w.d.UnreadBuffer())), Err: io.ErrUnexpectedEOF}
	}
	return jsonErr(err)
}

// field is the path of the value (or member name) read last.
func (w *walker) field() string { return jsonfield.Path(w.d.StackPointer()) }

// kindErr refuses the value read last: it is of kind k, not what the member
// takes ("a string").
func (w *walker) kindErr(what string, k jsontext.Kind) error {
	return fieldErr(w.field(), "must be %s, got %s", what, kindName(k))
}

// open reads the start of an object or array (kind '{' or '['); present is
// false for null. what describes the kind for an error ("an object").
func (w *walker) open(kind jsontext.Kind, what string) (present bool, err error) {
	tok, err := w.d.ReadToken()
	if err != nil {
		return false, w.syntax(err)
	}
	switch tok.Kind() {
	case 'n':
		return false, nil
	case kind:
		return true, nil
	}
	return false, w.kindErr(what, tok.Kind())
}

// members reads the members of an object whose '{' has been read, up to
// and including its '}'. member is called with each name (unquoted) and
// reads its value; it returns false, without reading, for a name the
// version does not know, which is refused.
func (w *walker) members(member func(name []byte) (known bool, err error)) error {
	var unquoted []byte
	for w.d.PeekKind() != '}' {
		v, err := w.d.ReadValue()
		if err != nil {
			return w.syntax(err)
		}
		name := v[1 : len(v)-1]
		if bytes.IndexByte(v, '\\') >= 0 {
			unquoted, _ = jsontext.AppendUnquote(unquoted[:0], v) // valid: the decoder read it
			name = unquoted
		}
		known, err := member(name)
		if err != nil {
			return err
		}
		if !known {
			return fieldErr(w.field(), "unknown field")
		}
	}
	if _, err := w.d.ReadToken(); err != nil {
		return w.syntax(err)
	}
	return nil
}

// string reads a string member into dst (not ok for null).
func (w *walker) string(dst *optString) error {
	v, err := w.d.ReadValue()
	if err != nil {
		return w.syntax(err)
	}
	switch v.Kind() {
	case 'n':
		*dst = optString{}
		return nil
	case '"':
		if bytes.IndexByte(v, '\\') < 0 {
			off := int(w.d.InputOffset()) - len(v)
			*dst = optString{s: w.str[off+1 : off+len(v)-1], ok: true}
			return nil
		}
		// The decoder has checked the escapes; what AllowInvalidUTF8 let
		// through (an escaped lone surrogate) becomes U+FFFD, as in the
		// library, and domain.CheckText refuses it.
		s, _ := jsontext.AppendUnquote(nil, v)
		*dst = optString{s: string(s), ok: true}
		return nil
	}
	return w.kindErr("a string", v.Kind())
}

// int reads an integer member into dst (not ok for null): digits with an
// optional minus sign, no fraction or exponent, within int64.
func (w *walker) int(dst *optInt) error {
	v, err := w.d.ReadValue()
	if err != nil {
		return w.syntax(err)
	}
	switch v.Kind() {
	case 'n':
		*dst = optInt{}
		return nil
	case '0':
		n, ok, overflow := parseInt64(v)
		off := w.d.InputOffset() - int64(len(v))
		switch {
		case overflow:
			return fieldErr(w.field(), "integer %s is out of range", literalAt(w.body, off))
		case !ok:
			return fieldErr(w.field(), "must be an integer, got %s", literalAt(w.body, off))
		}
		*dst = optInt{n: n, ok: true}
		return nil
	}
	return w.kindErr("an integer", v.Kind())
}

// parseInt64 parses a JSON number as the library parses one into an int64:
// ok is false for a fraction or an exponent, overflow true for an integer
// outside int64 (or more than 20 digits before a fraction or exponent).
func parseInt64(v []byte) (n int64, ok, overflow bool) {
	neg := v[0] == '-'
	if neg {
		v = v[1:]
	}
	u, ok, overflow := parseUint(v)
	if !ok {
		return 0, false, overflow
	}
	const maxInt = uint64(1) << 63
	if (neg && u > maxInt) || (!neg && u > maxInt-1) {
		return 0, false, true
	}
	if neg {
		return int64(-u), true, false
	}
	return int64(u), true, false
}

// parseUint parses the digits of a JSON number as the library's
// jsonwire.ParseUint does: ok only for plain digits without a leading zero;
// overflow when they are plain digits past uint64.
func parseUint(b []byte) (v uint64, ok, overflow bool) {
	const unsafeWidth = 20 // len("18446744073709551615")
	var n int
	for ; len(b) > n && '0' <= b[n] && b[n] <= '9'; n++ {
		v = 10*v + uint64(b[n]-'0')
	}
	switch {
	case n == 0 || len(b) != n || (b[0] == '0' && string(b) != "0"):
		return 0, false, false
	case n >= unsafeWidth && (b[0] != '1' || v < 1e19 || n > unsafeWidth):
		return 0, false, true
	}
	return v, true, false
}
