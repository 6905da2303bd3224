package oemfeed

import (
	"encoding/json"
)

// scanTree is the fast path of parseTree: one pass over body, building the
// same tree (*object, []any, json.Number, string, bool, nil) without
// encoding/json's token machinery. It accepts only well-formed JSON without
// duplicate keys and nested at most maxDepth deep; on anything else it
// returns ok == false and the caller falls back to the token walk, which
// finds the reason. It is never laxer than the token walk (FuzzScanTree).
// body must be valid UTF-8 (Decode checks that first).
func scanTree(body []byte) (v any, ok bool) {
	s := scanner{b: body}
	v, ok = s.value(0)
	if !ok {
		return nil, false
	}
	s.ws()
	return v, s.i == len(s.b)
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) value(depth int) (any, bool) {
	s.ws()
	if s.i >= len(s.b) {
		return nil, false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		if depth >= maxDepth {
			return nil, false
		}
		return s.object(depth)
	case c == '[':
		if depth >= maxDepth {
			return nil, false
		}
		return s.array(depth)
	case c == '"':
		str, ok := s.str()
		return str, ok
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't':
		return true, s.literal("true")
	case c == 'f':
		return false, s.literal("false")
	case c == 'n':
		return nil, s.literal("null")
	}
	return nil, false
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// smallObject is the size up to which duplicate keys are found by a linear
// scan; larger objects use a map.
const smallObject = 16

func (s *scanner) object(depth int) (any, bool) {
	s.i++ // '{'
	o := &object{keys: make([]string, 0, 12), vals: make([]any, 0, 12)}
	var seen map[string]struct{}
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return o, true
	}
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return nil, false
		}
		k, ok := s.str()
		if !ok {
			return nil, false
		}
		if len(o.keys) < smallObject {
			for _, prev := range o.keys {
				if prev == k {
					return nil, false
				}
			}
		} else {
			if seen == nil {
				seen = make(map[string]struct{}, 2*len(o.keys))
				for _, prev := range o.keys {
					seen[prev] = struct{}{}
				}
			}
			if _, dup := seen[k]; dup {
				return nil, false
			}
			seen[k] = struct{}{}
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return nil, false
		}
		s.i++
		v, ok := s.value(depth + 1)
		if !ok {
			return nil, false
		}
		o.keys = append(o.keys, k)
		o.vals = append(o.vals, v)
		s.ws()
		if s.i >= len(s.b) {
			return nil, false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return o, true
		default:
			return nil, false
		}
	}
}

func (s *scanner) array(depth int) (any, bool) {
	s.i++ // '['
	a := make([]any, 0, 4)
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return a, true
	}
	for {
		v, ok := s.value(depth + 1)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		s.ws()
		if s.i >= len(s.b) {
			return nil, false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return a, true
		default:
			return nil, false
		}
	}
}

// str reads a string at s.i (a '"'). Strings with escapes are unquoted by
// encoding/json itself, so escapes mean exactly what they mean there.
func (s *scanner) str() (string, bool) {
	start := s.i
	s.i++
	escaped := false
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			if !escaped {
				return string(s.b[start+1 : s.i-1]), true
			}
			var out string
			if err := json.Unmarshal(s.b[start:s.i], &out); err != nil {
				return "", false
			}
			return out, true
		case c == '\\':
			escaped = true
			s.i += 2 // the escaped byte is never the closing quote
		case c < 0x20:
			return "", false
		default:
			s.i++
		}
	}
	return "", false
}

// number reads a number with the grammar of RFC 8259.
func (s *scanner) number() (any, bool) {
	start := s.i
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9':
		s.digits()
	default:
		return nil, false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return nil, false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return nil, false
		}
	}
	return json.Number(s.b[start:s.i]), true
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}
