// Package jsonfield names the member a strict JSON decoder's error is about,
// in the field paths that problem bodies and dead-letter reasons use
// ("lines[0].sku"). It serves every strict decoder of the project, all built
// on github.com/go-json-experiment/json.
package jsonfield

import (
	"errors"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// Path writes a JSON pointer ("/lines/0/sku") as a field path
// ("lines[0].sku"). A token of digits is taken for an array index (a pointer
// cannot tell one from an object member named "0").
func Path(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if _, err := strconv.Atoi(tok); err == nil {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

// Duplicate reports whether err is a repeated object member name, and the
// path of the repeated member.
func Duplicate(err error) (field string, ok bool) {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) && errors.Is(se.Err, jsontext.ErrDuplicateName) {
		return Path(se.JSONPointer), true
	}
	return "", false
}
