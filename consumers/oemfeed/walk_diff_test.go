package oemfeed

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"

	"dealcredit/domain"
)

// The reflection-based decoder the walker replaces: json.Unmarshal with
// jsonOptions into a struct of pointers.
type oldV1Body struct {
	Schema             *string      `json:"schema"`
	OEMID              *string      `json:"oem_id"`
	InvoiceNumber      *string      `json:"invoice_number"`
	Revision           *int64       `json:"revision"`
	Kind               *string      `json:"kind"`
	CreditMemoFor      *string      `json:"credit_memo_for"`
	InvoiceDate        *string      `json:"invoice_date"`
	Currency           *string      `json:"currency"`
	Customer           *oldCustomer `json:"customer"`
	DealRegistrationID *string      `json:"deal_registration_id"`
	Lines              []oldLine    `json:"lines"`
}

type oldCustomer struct {
	OEMAccountID *string `json:"oem_account_id"`
	Name         *string `json:"name"`
	Country      *string `json:"country"`
	Domain       *string `json:"domain"`
}

type oldLine struct {
	Line           *int64  `json:"line"`
	SKU            *string `json:"sku"`
	Segment        *string `json:"segment"`
	Quantity       *int64  `json:"quantity"`
	UnitPriceMinor *int64  `json:"unit_price_minor"`
	AmountMinor    *int64  `json:"amount_minor"`
}

func os_(p *string) optString {
	if p == nil {
		return optString{}
	}
	return optString{s: *p, ok: true}
}

func oi(p *int64) optInt {
	if p == nil {
		return optInt{}
	}
	return optInt{n: *p, ok: true}
}

// oldDecodeV1 is decodeV1 as it was: the library's Unmarshal, then the same checks.
func oldDecodeV1(body []byte) (domain.InvoiceReceived, error) {
	var o oldV1Body
	if err := json.Unmarshal(body, &o, jsonOptions); err != nil {
		return domain.InvoiceReceived{}, jsonErr(body, err)
	}
	m := v1Body{Schema: os_(o.Schema), OEMID: os_(o.OEMID), InvoiceNumber: os_(o.InvoiceNumber), Revision: oi(o.Revision),
		Kind: os_(o.Kind), CreditMemoFor: os_(o.CreditMemoFor), InvoiceDate: os_(o.InvoiceDate), Currency: os_(o.Currency),
		DealRegistrationID: os_(o.DealRegistrationID)}
	if o.Customer != nil {
		m.HasCustomer = true
		m.Customer = v1Customer{OEMAccountID: os_(o.Customer.OEMAccountID), Name: os_(o.Customer.Name), Country: os_(o.Customer.Country), Domain: os_(o.Customer.Domain)}
	}
	if o.Lines != nil {
		m.Lines = []v1Line{}
		for _, l := range o.Lines {
			m.Lines = append(m.Lines, v1Line{Line: oi(l.Line), SKU: os_(l.SKU), Segment: os_(l.Segment), Quantity: oi(l.Quantity),
				UnitPriceMinor: oi(l.UnitPriceMinor), AmountMinor: oi(l.AmountMinor)})
		}
	}
	var inv domain.InvoiceReceived
	if err := m.header(&inv); err != nil {
		return domain.InvoiceReceived{}, err
	}
	if err := m.customer(&inv.Customer); err != nil {
		return domain.InvoiceReceived{}, err
	}
	if err := m.lines(&inv); err != nil {
		return domain.InvoiceReceived{}, err
	}
	return inv, nil
}

// FuzzWalkMatchesUnmarshal: Decode with the walker and with the old
// reflection decoder accept the same bodies, with the same invoice, and
// refuse the same ones with the same reason.
func FuzzWalkMatchesUnmarshal(f *testing.F) {
	for _, g := range GenerateMessages(GenOptions{Seed: 3, Invoices: 20, OEMs: []string{"hp"}, Lines: 3}) {
		f.Add(string(g.Body))
	}
	files, _ := filepath.Glob("testdata/fuzz/FuzzDecode/*")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		// "go test fuzz v1" then string(subject) and []byte(body) lines.
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "[]byte(") {
				f.Add(line) // the quoted literal is itself a fine hostile input
			}
		}
	}
	for _, s := range []string{
		`{"schema":"dealcredit.oem_invoice.v1","oem_id":"hp","lines":[null,{"line":"1"}]}`,
		`{"schema":"dealcredit.oem_invoice.v1","customer":"x"}`,
		`{"schema":"dealcredit.oem_invoice.v1","customer":[1,}`,
		`{"schema":"dealcredit.oem_invoice.v1","lines":{"a":1,"a":2}}`,
		`{"schema":"dealcredit.oem_invoice.v1","oem_id":{"a":1,"a":2}}`,
		`{"schema":"dealcredit.oem_invoice.v1","revision":99999999999999999999}`,
		`{"schema":"dealcredit.oem_invoice.v1","revision":99999999999999999999.5}`,
		`{"schema":"dealcredit.oem_invoice.v1","revision":-9223372036854775808}`,
		`{"schema":"dealcredit.oem_invoice.v1","revision":-0}`,
		`{"schema":"dealcredit.oem_invoice.v1","revision":1e0}`,
		`{"schema":"dealcredit.oem_invoice.v1","oem\u005fid":"hp","oem_id":"hp"}`,
		`{"schema":"dealcredit.oem_invoice.v1","0":1}`,
		`{"schema":"dealcredit.oem_invoice.v1","customer":{"0":1}}`,
		`{"schema":"dealcredit.oem_invoice.v1","customer":{"name":"a\ud800b"}}`,
		`{"schema":"dealcredit.oem_invoice.v1"} x`,
		`{"schema":"dealcredit.oem_invoice.v1"} {}`,
		`{"schema":"dealcredit.oem_invoice.v1"}   `,
		`{"schema":"dealcredit.oem_invoice.v1","OEM_ID":"hp"}`,
		`{"schema":"dealcredit.oem_invoice.v1","lines":[{"line":1}`,
		` {"schema" : "dealcredit.oem_invoice.v1" , "schema":1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, subject := range []string{"oem.hp.invoices", ""} {
			inv, err := Decode(subject, []byte(body))
			versions[SchemaV1] = oldDecodeV1
			oldInv, oldErr := Decode(subject, []byte(body))
			versions[SchemaV1] = decodeV1
			if (err == nil) != (oldErr == nil) || (err != nil && err.Error() != oldErr.Error()) {
				t.Fatalf("walker: %v\nold:    %v\nbody: %q", err, oldErr, body)
			}
			if !reflect.DeepEqual(inv, oldInv) {
				t.Fatalf("walker: %+v\nold:    %+v\nbody: %q", inv, oldInv, body)
			}
		}
	})
}
