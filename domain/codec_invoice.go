package domain

import (
	"strconv"
	"unicode/utf8"
)

// decodeInvoiceFast decodes an invoice.received v1 body without reflection. It accepts
// only the plain form that Encode and Postgres jsonb produce (known lower-case keys, each at
// most once, strings without escapes, integers without fraction or exponent, no nulls) and
// reports false for anything else, so that the caller falls back to encoding/json: the
// result is the same either way, this path is only faster.
func decodeInvoiceFast(b []byte) (InvoiceReceived, bool) {
	s := scanner{b: b, ok: true}
	var inv InvoiceReceived
	var seen uint32
	ok := s.object(func(key []byte) bool {
		var bit uint32
		switch string(key) {
		case "oem_id":
			bit, inv.OEMID = 1<<0, s.str()
		case "invoice_number":
			bit, inv.InvoiceNumber = 1<<1, s.str()
		case "revision":
			bit, inv.Revision = 1<<2, int(s.int())
		case "kind":
			bit = 1 << 3
			switch k := s.raw(); string(k) {
			case string(KindInvoice):
				inv.Kind = KindInvoice
			case string(KindCreditMemo):
				inv.Kind = KindCreditMemo
			default:
				inv.Kind = InvoiceKind(k)
			}
		case "credit_memo_for":
			bit, inv.CreditMemoFor = 1<<4, s.str()
		case "invoice_date":
			bit = 1 << 5
			if raw := s.raw(); s.ok && inv.InvoiceDate.UnmarshalText(raw) != nil {
				s.ok = false
			}
		case "currency":
			bit, inv.Currency = 1<<6, s.str()
		case "customer":
			bit = 1 << 7
			s.customer(&inv.Customer)
		case "deal_registration_id":
			bit, inv.DealRegistrationID = 1<<8, s.str()
		case "lines":
			bit = 1 << 9
			inv.Lines = s.lines()
		case "source":
			bit, inv.Source = 1<<10, s.str()
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return s.ok
	})
	if !ok || !s.end() {
		return InvoiceReceived{}, false
	}
	return inv, true
}

// scanner reads the plain JSON subset of decodeInvoiceFast; ok turns false at the first
// thing outside it and stays false.
type scanner struct {
	b  []byte
	i  int
	ok bool
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

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) expect(c byte) bool {
	if s.peek() != c {
		s.ok = false
		return false
	}
	s.i++
	return true
}

func (s *scanner) end() bool {
	s.ws()
	return s.ok && s.i == len(s.b)
}

// object reads an object, calling field for each key with the scanner at its value.
func (s *scanner) object(field func(key []byte) bool) bool {
	if !s.expect('{') {
		return false
	}
	if s.peek() == '}' {
		s.i++
		return s.ok
	}
	for s.ok {
		key := s.raw()
		if !s.ok || !s.expect(':') || !field(key) {
			s.ok = false
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return s.ok
		default:
			s.ok = false
		}
	}
	return false
}

// raw reads a string without escapes and returns its bytes (not copied).
func (s *scanner) raw() []byte {
	if !s.ok || !s.expect('"') {
		return nil
	}
	start, ascii := s.i, true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			if !ascii && !utf8.Valid(v) {
				s.ok = false
			}
			return v
		case c == '\\' || c < 0x20:
			s.ok = false
			return nil
		case c >= utf8.RuneSelf:
			ascii = false
		}
		s.i++
	}
	s.ok = false
	return nil
}

func (s *scanner) str() string {
	v := s.raw()
	if !s.ok {
		return ""
	}
	return string(v)
}

// int reads an integer that fits int64: an optional minus and digits without a leading zero.
func (s *scanner) int() int64 {
	if !s.ok {
		return 0
	}
	s.ws()
	neg := false
	if s.i < len(s.b) && s.b[s.i] == '-' {
		neg = true
		s.i++
	}
	start := s.i
	var n uint64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		if n > (1<<63)/10 {
			s.ok = false
			return 0
		}
		n = n*10 + uint64(s.b[s.i]-'0')
		s.i++
	}
	digits := s.i - start
	switch {
	case digits == 0, digits > 1 && s.b[start] == '0', n > 1<<63, !neg && n == 1<<63:
		s.ok = false
		return 0
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			s.ok = false
			return 0
		}
	}
	if neg {
		return -int64(n)
	}
	return int64(n)
}

func (s *scanner) customer(c *Customer) {
	var seen uint32
	s.object(func(key []byte) bool {
		var bit uint32
		switch string(key) {
		case "oem_account_id":
			bit, c.OEMAccountID = 1<<0, s.str()
		case "name":
			bit, c.Name = 1<<1, s.str()
		case "country":
			bit, c.Country = 1<<2, s.str()
		case "domain":
			bit, c.Domain = 1<<3, s.str()
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return s.ok
	})
}

func (s *scanner) lines() []InvoiceLine {
	if !s.expect('[') {
		return nil
	}
	out := make([]InvoiceLine, 0, 4)
	if s.peek() == ']' {
		s.i++
		return out
	}
	for s.ok {
		var l InvoiceLine
		var seen uint32
		s.object(func(key []byte) bool {
			var bit uint32
			switch string(key) {
			case "line":
				bit, l.Line = 1<<0, int(s.int())
			case "sku":
				bit, l.SKU = 1<<1, s.str()
			case "segment":
				bit = 1 << 2
				l.Segment = segmentOf(s.raw())
			case "quantity":
				bit, l.Quantity = 1<<3, s.int()
			case "unit_price_minor":
				bit, l.UnitPriceMinor = 1<<4, s.int()
			case "amount_minor":
				bit, l.AmountMinor = 1<<5, s.int()
			default:
				return false
			}
			if seen&bit != 0 {
				return false
			}
			seen |= bit
			return s.ok
		})
		out = append(out, l)
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return out
		default:
			s.ok = false
		}
	}
	return nil
}

// segmentOf returns the segment named b, sharing the constant's bytes when it is known.
func segmentOf(b []byte) Segment {
	switch string(b) {
	case string(SegmentClientManagement):
		return SegmentClientManagement
	case string(SegmentServerManagement):
		return SegmentServerManagement
	case string(SegmentAssetManagement):
		return SegmentAssetManagement
	case string(SegmentMaintenance):
		return SegmentMaintenance
	case string(SegmentSupport):
		return SegmentSupport
	case string(SegmentServices):
		return SegmentServices
	}
	return Segment(b)
}

// encodeInvoiceFast encodes an invoice.received v1 body without reflection, byte for byte
// as encoding/json does (same member order, omitempty, no spaces). It takes only strings
// that encoding/json writes unchanged (printable ASCII other than '"', '\\', '<', '>' and
// '&') and reports false for anything else, so that the caller falls back to
// encoding/json: the bytes are the same either way (the event id's duplicate check
// compares them), this path is only faster.
func encodeInvoiceFast(inv InvoiceReceived) ([]byte, bool) {
	e := plainEncoder{b: make([]byte, 0, 256+160*len(inv.Lines)), ok: true}
	e.str(`{"oem_id":`, inv.OEMID)
	e.str(`,"invoice_number":`, inv.InvoiceNumber)
	e.int(`,"revision":`, int64(inv.Revision))
	e.str(`,"kind":`, string(inv.Kind))
	if inv.CreditMemoFor != "" {
		e.str(`,"credit_memo_for":`, inv.CreditMemoFor)
	}
	e.str(`,"invoice_date":`, inv.InvoiceDate.String())
	e.str(`,"currency":`, inv.Currency)
	c := inv.Customer
	e.b = append(e.b, `,"customer":{`...)
	sep := ""
	if c.OEMAccountID != "" {
		e.str(`"oem_account_id":`, c.OEMAccountID)
		sep = ","
	}
	e.str(sep+`"name":`, c.Name)
	e.str(`,"country":`, c.Country)
	if c.Domain != "" {
		e.str(`,"domain":`, c.Domain)
	}
	e.b = append(e.b, '}')
	if inv.DealRegistrationID != "" {
		e.str(`,"deal_registration_id":`, inv.DealRegistrationID)
	}
	if inv.Lines == nil {
		e.b = append(e.b, `,"lines":null`...)
	} else {
		e.b = append(e.b, `,"lines":[`...)
		for i, l := range inv.Lines {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.int(`{"line":`, int64(l.Line))
			e.str(`,"sku":`, l.SKU)
			e.str(`,"segment":`, string(l.Segment))
			e.int(`,"quantity":`, l.Quantity)
			e.int(`,"unit_price_minor":`, l.UnitPriceMinor)
			e.int(`,"amount_minor":`, l.AmountMinor)
			e.b = append(e.b, '}')
		}
		e.b = append(e.b, ']')
	}
	if inv.Source != "" {
		e.str(`,"source":`, inv.Source)
	}
	e.b = append(e.b, '}')
	return e.b, e.ok
}

// plainEncoder appends members whose strings need no escaping; ok turns false at the
// first string that would.
type plainEncoder struct {
	b  []byte
	ok bool
}

// str appends prefix and s as a JSON string.
func (e *plainEncoder) str(prefix, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			e.ok = false
			return
		}
	}
	e.b = append(e.b, prefix...)
	e.b = append(e.b, '"')
	e.b = append(e.b, s...)
	e.b = append(e.b, '"')
}

// int appends prefix and n.
func (e *plainEncoder) int(prefix string, n int64) {
	e.b = append(e.b, prefix...)
	e.b = strconv.AppendInt(e.b, n, 10)
}
