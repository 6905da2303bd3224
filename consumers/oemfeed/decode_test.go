package oemfeed_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"dealcredit/consumers/oemfeed"
	"dealcredit/domain"
)

const validBody = `{
  "schema": "dealcredit.oem_invoice.v1",
  "oem_id": "hp",
  "invoice_number": "HP-2026-000123",
  "revision": 1,
  "kind": "invoice",
  "credit_memo_for": null,
  "invoice_date": "2026-02-14",
  "currency": "USD",
  "customer": {"oem_account_id": "C-4711", "name": "Acme Corp", "country": "US", "domain": "acme.example"},
  "deal_registration_id": null,
  "lines": [
    {"line": 1, "sku": "ALT-CMS-100", "segment": "client_management", "quantity": 100, "unit_price_minor": 4500, "amount_minor": 450000},
    {"line": 2, "sku": "ALT-SUP-1", "segment": "support", "quantity": 2, "unit_price_minor": 999, "amount_minor": 1998}
  ]
}`

const creditMemoBody = `{"schema":"dealcredit.oem_invoice.v1","oem_id":"hp","invoice_number":"HP-CM-1","revision":1,"kind":"credit_memo","credit_memo_for":"HP-2026-000123","invoice_date":"2026-03-01","currency":"EUR","customer":{"oem_account_id":"C-4711","name":"Acme Corp","country":"DE"},"lines":[{"line":1,"sku":"ALT-CMS-100","segment":"client_management","quantity":10,"unit_price_minor":4500,"amount_minor":45000}]}`

// replace returns validBody with old replaced by new exactly once.
func replace(tb testing.TB, old, new string) string {
	tb.Helper()
	if strings.Count(validBody, old) != 1 {
		tb.Fatalf("replace: %q occurs %d times in validBody", old, strings.Count(validBody, old))
	}
	return strings.Replace(validBody, old, new, 1)
}

// sample is one message with the verdicts of the decoder and of the JSON Schema.
type sample struct {
	name    string
	subject string
	body    string
	field   string // "" and ok: valid; otherwise the field the decoder must name
	ok      bool   // the decoder accepts it
	schema  string // "ok", "bad" or "skip" (not expressible as a JSON instance)
}

const hpSubject = "oem.hp.invoices"

func samples(tb testing.TB) []sample {
	tb.Helper()
	r := func(o, n string) string { return replace(tb, o, n) }
	return []sample{
		{name: "valid", body: validBody, ok: true, schema: "ok"},
		{name: "valid credit memo", body: creditMemoBody, ok: true, schema: "ok"},
		{name: "valid without optional fields", body: r(`"credit_memo_for": null,`, ``), ok: true, schema: "ok"},
		{name: "valid with registration", body: r(`"deal_registration_id": null`, `"deal_registration_id": "deal-42"`), ok: true, schema: "ok"},
		{name: "unknown top-level field", body: r(`"revision": 1,`, `"revision": 1, "discount": 5,`), field: "discount", schema: "bad"},
		{name: "unknown customer field", body: r(`"country": "US",`, `"country": "US", "vat": "x",`), field: "customer.vat", schema: "bad"},
		{name: "unknown line field", body: r(`"line": 2,`, `"line": 2, "note": "x",`), field: "lines[1].note", schema: "bad"},
		{name: "duplicate key", body: r(`"oem_id": "hp",`, `"oem_id": "hp", "oem_id": "hp",`), field: "oem_id", schema: "ok"},
		{name: "duplicate nested key", body: r(`"sku": "ALT-SUP-1",`, `"sku": "ALT-SUP-1", "sku": "ALT-SUP-1",`), field: "lines[1].sku", schema: "ok"},
		{name: "fractional quantity", body: r(`"quantity": 100,`, `"quantity": 100.5,`), field: "lines[0].quantity", schema: "bad"},
		{name: "integral float quantity", body: r(`"quantity": 100,`, `"quantity": 100.0,`), field: "lines[0].quantity", schema: "ok"},
		{name: "exponent quantity", body: r(`"quantity": 100,`, `"quantity": 1e2,`), field: "lines[0].quantity", schema: "ok"},
		{name: "string quantity", body: r(`"quantity": 100,`, `"quantity": "100",`), field: "lines[0].quantity", schema: "bad"},
		{name: "wrong amount", body: r(`"amount_minor": 450000`, `"amount_minor": 45000`), field: "lines[0].amount_minor", schema: "ok"},
		{name: "amount overflow", body: r(`"quantity": 100, "unit_price_minor": 4500, "amount_minor": 450000`, `"quantity": 1000000000000, "unit_price_minor": 1000000000000000, "amount_minor": 1`), field: "lines[0].amount_minor", schema: "ok"},
		{name: "amount too large", body: r(`"quantity": 100, "unit_price_minor": 4500, "amount_minor": 450000`, `"quantity": 1000000000000, "unit_price_minor": 2000, "amount_minor": 2000000000000000`), field: "lines[0].amount_minor", schema: "bad"},
		{name: "quantity too large", body: r(`"quantity": 100, "unit_price_minor": 4500, "amount_minor": 450000`, `"quantity": 1000000000001, "unit_price_minor": 0, "amount_minor": 0`), field: "lines[0].quantity", schema: "bad"},
		{name: "unit price too large", body: r(`"quantity": 100, "unit_price_minor": 4500, "amount_minor": 450000`, `"quantity": 1, "unit_price_minor": 1000000000000001, "amount_minor": 1000000000000001`), field: "lines[0].unit_price_minor", schema: "bad"},
		{name: "total too large", body: r(`"quantity": 2, "unit_price_minor": 999, "amount_minor": 1998`, `"quantity": 1, "unit_price_minor": 999999999550001, "amount_minor": 999999999550001`), field: "lines", schema: "ok"},
		{name: "NUL in customer name", body: r(`"name": "Acme Corp"`, `"name": "Acme\u0000Corp"`), field: "customer.name", schema: "bad"},
		{name: "newline in customer name", body: r(`"name": "Acme Corp"`, `"name": "Acme\nCorp"`), field: "customer.name", schema: "bad"},
		{name: "C1 control in customer name", body: r(`"name": "Acme Corp"`, `"name": "Acme\u0085Corp"`), field: "customer.name", schema: "bad"},
		{name: "lone surrogate in customer name", body: r(`"name": "Acme Corp"`, `"name": "Acme\ud800Corp"`), field: "customer.name", schema: "skip"},
		{name: "U+FFFD in customer name", body: r(`"name": "Acme Corp"`, `"name": "Acme\ufffdCorp"`), field: "customer.name", schema: "bad"},
		{name: "DEL in account id", body: r(`"oem_account_id": "C-4711"`, `"oem_account_id": "C-\u007f"`), field: "customer.oem_account_id", schema: "bad"},
		{name: "NUL in domain", body: r(`"domain": "acme.example"`, `"domain": "acme\u0000.example"`), field: "customer.domain", schema: "bad"},
		{name: "NUL in registration", body: r(`"deal_registration_id": null`, `"deal_registration_id": "d\u0000"`), field: "deal_registration_id", schema: "bad"},
		{name: "unassigned country", body: r(`"country": "US"`, `"country": "ZZ"`), field: "customer.country", schema: "bad"},
		{name: "year 0000", body: r(`"invoice_date": "2026-02-14"`, `"invoice_date": "0000-01-01"`), field: "invoice_date", schema: "bad"},
		{name: "year 2101", body: r(`"invoice_date": "2026-02-14"`, `"invoice_date": "2101-01-01"`), field: "invoice_date", schema: "bad"},
		{name: "integer out of range", body: r(`"quantity": 100,`, `"quantity": 92233720368547758070,`), field: "lines[0].quantity", schema: "bad"},
		{name: "negative quantity", body: r(`"quantity": 100, "unit_price_minor": 4500, "amount_minor": 450000`, `"quantity": -100, "unit_price_minor": 4500, "amount_minor": -450000`), field: "lines[0].quantity", schema: "bad"},
		{name: "negative amount", body: r(`"quantity": 2, "unit_price_minor": 999, "amount_minor": 1998`, `"quantity": 2, "unit_price_minor": 999, "amount_minor": -1998`), field: "lines[1].amount_minor", schema: "bad"},
		{name: "unknown currency", body: r(`"currency": "USD"`, `"currency": "XAU"`), field: "currency", schema: "bad"},
		{name: "lower case currency", body: r(`"currency": "USD"`, `"currency": "usd"`), field: "currency", schema: "bad"},
		{name: "unknown segment", body: r(`"segment": "support"`, `"segment": "hardware"`), field: "lines[1].segment", schema: "bad"},
		{name: "schema mismatch", body: r(`"schema": "dealcredit.oem_invoice.v1"`, `"schema": "dealcredit.oem_invoice.v2"`), field: "schema", schema: "bad"},
		{name: "schema missing", body: r(`"schema": "dealcredit.oem_invoice.v1",`, ``), field: "schema", schema: "bad"},
		{name: "subject OEM differs from body", subject: "oem.dell.invoices", body: validBody, field: "oem_id", schema: "ok"},
		{name: "bad subject", subject: "oem.hp.invoices.rejected", body: validBody, field: "subject", schema: "ok"},
		{name: "credit memo without reference", body: strings.Replace(creditMemoBody, `"credit_memo_for":"HP-2026-000123",`, ``, 1), field: "credit_memo_for", schema: "bad"},
		{name: "credit memo with null reference", body: strings.Replace(creditMemoBody, `"credit_memo_for":"HP-2026-000123"`, `"credit_memo_for":null`, 1), field: "credit_memo_for", schema: "bad"},
		{name: "credit memo referring to itself", body: strings.Replace(creditMemoBody, `"credit_memo_for":"HP-2026-000123"`, `"credit_memo_for":"HP-CM-1"`, 1), field: "credit_memo_for", schema: "ok"},
		{name: "invoice with reference", body: r(`"credit_memo_for": null`, `"credit_memo_for": "HP-1"`), field: "credit_memo_for", schema: "bad"},
		{name: "unknown kind", body: r(`"kind": "invoice"`, `"kind": "refund"`), field: "kind", schema: "bad"},
		{name: "empty lines", body: validBody[:strings.Index(validBody, `"lines": [`)] + `"lines": []}`, field: "lines", schema: "bad"},
		{name: "duplicate line numbers", body: r(`"line": 2,`, `"line": 1,`), field: "lines[1].line", schema: "ok"},
		{name: "impossible date", body: r(`"2026-02-14"`, `"2026-02-30"`), field: "invoice_date", schema: "bad"},
		{name: "short date", body: r(`"2026-02-14"`, `"2026-2-14"`), field: "invoice_date", schema: "bad"},
		{name: "revision zero", body: r(`"revision": 1,`, `"revision": 0,`), field: "revision", schema: "bad"},
		{name: "empty customer name", body: r(`"name": "Acme Corp"`, `"name": ""`), field: "customer.name", schema: "bad"},
		{name: "bad country", body: r(`"country": "US"`, `"country": "USA"`), field: "customer.country", schema: "bad"},
		{name: "null lines", body: validBody[:strings.Index(validBody, `"lines": [`)] + `"lines": null}`, field: "lines", schema: "bad"},
		{name: "upper case oem", body: r(`"oem_id": "hp"`, `"oem_id": "HP"`), field: "oem_id", schema: "bad"},
		{name: "larger than 1 MiB", body: validBody + strings.Repeat(" ", oemfeed.MaxMessageSize), field: "", schema: "ok"},
		{name: "not JSON", body: `{"schema": `, field: "", schema: "bad"},
		{name: "array body", body: `[` + validBody + `]`, field: "", schema: "bad"},
		{name: "trailing data", body: validBody + `{}`, field: "", schema: "bad"},
		{name: "invalid UTF-8", body: r(`"Acme Corp"`, "\"Acme \xff Corp\""), field: "", schema: "skip"},
	}
}

func TestDecode(t *testing.T) {
	for _, s := range samples(t) {
		t.Run(s.name, func(t *testing.T) {
			subject := s.subject
			if subject == "" {
				subject = hpSubject
			}
			inv, err := oemfeed.Decode(subject, []byte(s.body))
			if s.ok {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if inv.OEMID != "hp" || len(inv.Lines) == 0 || inv.Source != hpSubject {
					t.Fatalf("Decode returned %+v", inv)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode accepted an invalid message")
			}
			var de *oemfeed.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			if de.Field != s.field {
				t.Fatalf("error names field %q, want %q (%v)", de.Field, s.field, err)
			}
			if s.field != "" && !strings.Contains(de.Sentence(), s.field) {
				t.Fatalf("reason %q does not name %q", de.Sentence(), s.field)
			}
		})
	}
}

func TestDecodeValues(t *testing.T) {
	inv, err := oemfeed.Decode(hpSubject, []byte(creditMemoBody))
	if err != nil {
		t.Fatal(err)
	}
	want := domain.InvoiceReceived{
		OEMID: "hp", InvoiceNumber: "HP-CM-1", Revision: 1, Kind: domain.KindCreditMemo,
		CreditMemoFor: "HP-2026-000123", InvoiceDate: domain.NewDate(2026, time.March, 1), Currency: "EUR",
		Customer: domain.Customer{OEMAccountID: "C-4711", Name: "Acme Corp", Country: "DE"},
		Lines:    []domain.InvoiceLine{{Line: 1, SKU: "ALT-CMS-100", Segment: domain.SegmentClientManagement, Quantity: 10, UnitPriceMinor: 4500, AmountMinor: 45000}},
		Source:   hpSubject,
	}
	if !reflect.DeepEqual(inv, want) {
		t.Fatalf("got  %+v\nwant %+v", inv, want)
	}
}

func TestSubjectOEM(t *testing.T) {
	for _, tc := range []struct {
		subject, oem string
		ok           bool
	}{
		{"oem.hp.invoices", "hp", true},
		{"oem.dell.invoices", "dell", true},
		{"oem.hp.invoices.rejected", "", false},
		{"oem.*.invoices", "", false},
		{"oem..invoices", "", false},
		{"oem.hp.x.invoices", "", false},
		{"oem.hp.invoice", "", false},
		{"oem.invoices", "", false},
		{"xoem.hp.invoices", "", false},
		{"oem.HP.invoices", "", false},
	} {
		oem, err := oemfeed.SubjectOEM(tc.subject)
		if (err == nil) != tc.ok || oem != tc.oem {
			t.Errorf("SubjectOEM(%q) = %q, %v", tc.subject, oem, err)
		}
	}
}
