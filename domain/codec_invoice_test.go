package domain

import (
	"reflect"
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
