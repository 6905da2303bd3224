package domain

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"testing"
)

const canonicalInvoice = `{"oem_id":"hp","invoice_number":"HP-1","revision":2,"kind":"credit_memo","credit_memo_for":"HP-0","invoice_date":"2026-02-14","currency":"USD","customer":{"oem_account_id":"C-1","name":"Acme Corp","country":"US","domain":"acme.example"},"deal_registration_id":"d-1","lines":[{"line":1,"sku":"ALT-CMS-100","segment":"client_management","quantity":100,"unit_price_minor":4500,"amount_minor":450000},{"line":2,"sku":"X","segment":"maintenance","quantity":1,"unit_price_minor":0,"amount_minor":0}],"source":"oem.hp"}`

// checkFastInvoice fails when the fast invoice decoder accepts b but decodes it differently
// from encoding/json (the reference), or accepts what the reference rejects.
func checkFastInvoice(t *testing.T, b []byte) bool {
	t.Helper()
	fast, ok := decodeInvoiceFast(b)
	ref, err := decoder[InvoiceReceived]()(b)
	if !ok {
		return false
	}
	if err != nil {
		t.Fatalf("fast path accepted %q that encoding/json rejects: %v", b, err)
	}
	if !reflect.DeepEqual(Event(fast), ref) {
		t.Fatalf("fast path differs on %q:\nfast %#v\nref  %#v", b, fast, ref)
	}
	return true
}

func TestDecodeInvoiceFastMatchesEncodingJSON(t *testing.T) {
	cases := []struct {
		name string
		body string
		fast bool // whether the fast path must take it
	}{
		{"canonical", canonicalInvoice, true},
		{"jsonb spacing and order", `{"kind": "invoice", "lines": [{"sku": "A", "line": 1, "segment": "support", "quantity": 3, "amount_minor": -30, "unit_price_minor": -10}], "oem_id": "hp", "currency": "EUR", "customer": {"name": "Zoë Müller", "country": "DE"}, "revision": 1, "invoice_date": "2026-01-02", "invoice_number": "N"}`, true},
		{"empty lines", `{"oem_id":"hp","lines":[]}`, true},
		{"empty object", `{}`, true},
		{"unknown segment", `{"lines":[{"segment":"hardware"}]}`, true},
		{"big int", `{"revision":9223372036854775807}`, true},
		{"min int", `{"lines":[{"amount_minor":-9223372036854775808}]}`, true},
		{"overflow", `{"revision":9223372036854775808}`, false},
		{"escape", `{"oem_id":"h\u0070"}`, false},
		{"unknown field", `{"oem_id":"hp","extra":1}`, false},
		{"case-insensitive key", `{"OEM_ID":"hp"}`, false},
		{"duplicate key", `{"oem_id":"hp","oem_id":"dell"}`, false},
		{"null", `{"lines":null}`, false},
		{"float", `{"revision":1.0}`, false},
		{"exponent", `{"revision":1e2}`, false},
		{"leading zero", `{"revision":01}`, false},
		{"trailing data", `{"oem_id":"hp"} {"x":1}`, false},
		{"bad date", `{"invoice_date":"2026-13-01"}`, false},
		{"invalid utf-8", "{\"oem_id\":\"h\xffp\"}", false},
		{"control char", "{\"oem_id\":\"h\np\"}", false},
		{"truncated", `{"oem_id":"hp"`, false},
		{"not an object", `[1]`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := checkFastInvoice(t, []byte(c.body)); got != c.fast {
				t.Fatalf("fast path taken = %v, want %v", got, c.fast)
			}
			// Decode gives the reference result (or error) whichever path it takes.
			got, gerr := Decode("invoice.received", 1, []byte(c.body))
			want, werr := decoder[InvoiceReceived]()([]byte(c.body))
			if (gerr == nil) != (werr == nil) || (gerr == nil && !reflect.DeepEqual(got, want)) {
				t.Fatalf("Decode = %#v, %v; want %#v, %v", got, gerr, want, werr)
			}
		})
	}
}

func FuzzDecodeInvoiceFast(f *testing.F) {
	f.Add([]byte(canonicalInvoice))
	f.Add([]byte(`{"lines":[{"line":1},{"line":-2}],"customer":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) { checkFastInvoice(t, b) })
}

// checkFastInvoiceEncode fails when the fast invoice encoder takes inv but writes other
// bytes than encoding/json (the reference): a stored invoice's bytes decide whether a
// redelivery is a duplicate or a conflict.
func checkFastInvoiceEncode(t *testing.T, inv InvoiceReceived) bool {
	t.Helper()
	fast, ok := encodeInvoiceFast(inv)
	ref, err := json.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	if ok && !bytes.Equal(fast, ref) {
		t.Fatalf("fast encoding differs:\nfast %s\nref  %s", fast, ref)
	}
	// Encode writes the reference bytes whichever path it takes.
	if _, _, got, err := Encode(inv); err != nil || !bytes.Equal(got, ref) {
		t.Fatalf("Encode = %s, %v; want %s", got, err, ref)
	}
	return ok
}

func TestEncodeInvoiceFastMatchesEncodingJSON(t *testing.T) {
	var full InvoiceReceived
	if err := json.Unmarshal([]byte(canonicalInvoice), &full); err != nil {
		t.Fatal(err)
	}
	bare := InvoiceReceived{OEMID: "hp", InvoiceNumber: "N", Revision: 1, Kind: KindInvoice,
		InvoiceDate: NewDate(2026, 1, 2), Currency: "EUR", Customer: Customer{Name: "A", Country: "DE"},
		Lines: []InvoiceLine{{Line: 1, SKU: "S", Segment: "support", Quantity: 1, UnitPriceMinor: -5, AmountMinor: -5}}}
	with := func(f func(*InvoiceReceived)) InvoiceReceived {
		inv := bare
		inv.Lines = slices.Clone(bare.Lines)
		f(&inv)
		return inv
	}
	cases := []struct {
		name string
		inv  InvoiceReceived
		fast bool // whether the fast path must take it
	}{
		{"every member", full, true},
		{"optional members empty", bare, true},
		{"zero value", InvoiceReceived{}, true},
		{"no lines (nil)", with(func(i *InvoiceReceived) { i.Lines = nil }), true},
		{"no lines (empty)", with(func(i *InvoiceReceived) { i.Lines = []InvoiceLine{} }), true},
		{"account id only", with(func(i *InvoiceReceived) { i.Customer.OEMAccountID = "C-9" }), true},
		{"domain only", with(func(i *InvoiceReceived) { i.Customer.Domain = "a.example" }), true},
		{"extreme integers", with(func(i *InvoiceReceived) { i.Lines[0].AmountMinor, i.Lines[0].Quantity = math.MinInt64, math.MaxInt64 }), true},
		{"printable ASCII", with(func(i *InvoiceReceived) { i.Customer.Name = " !#$%'()*+,-./09:;=?@AZ[]^_`az{|}~\x7f" }), true},
		{"non-ASCII", with(func(i *InvoiceReceived) { i.Customer.Name = "Zoë Müller" }), false},
		{"line separator", with(func(i *InvoiceReceived) { i.Customer.Name = "a\u2028b" }), false},
		{"invalid UTF-8", with(func(i *InvoiceReceived) { i.Customer.Name = "a\xffb" }), false},
		{"HTML", with(func(i *InvoiceReceived) { i.Lines[0].SKU = "a<b>&c" }), false},
		{"quote and backslash", with(func(i *InvoiceReceived) { i.InvoiceNumber = `a"b\c` }), false},
		{"control character", with(func(i *InvoiceReceived) { i.Source = "a\tb" }), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := checkFastInvoiceEncode(t, c.inv); got != c.fast {
				t.Fatalf("fast path taken = %v, want %v", got, c.fast)
			}
		})
	}
}

func FuzzEncodeInvoiceFast(f *testing.F) {
	f.Add("hp", "N-1", 1, "invoice", "", "EUR", "Acme", "DE", "", "S", int64(3), int64(7))
	f.Add("h<p", "N\"1", -1, "credit_memo", "N-0", "\u00e9", "A\u2028", "\x00", "d", "", int64(-1), int64(0))
	f.Fuzz(func(t *testing.T, oem, number string, rev int, kind, memoFor, currency, name, country, domain, sku string, qty, price int64) {
		checkFastInvoiceEncode(t, InvoiceReceived{OEMID: oem, InvoiceNumber: number, Revision: rev, Kind: InvoiceKind(kind),
			CreditMemoFor: memoFor, InvoiceDate: NewDate(2026, 3, rev%40), Currency: currency,
			Customer: Customer{Name: name, Country: country, Domain: domain, OEMAccountID: sku},
			Lines:    []InvoiceLine{{Line: rev, SKU: sku, Segment: Segment(kind), Quantity: qty, UnitPriceMinor: price, AmountMinor: qty * price}}})
	})
}
