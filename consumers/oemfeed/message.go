// Package oemfeed holds the OEM invoice feed's wire formats: the strict
// decoder of each schema version (v1.go for dealcredit.oem_invoice.v1), each
// yielding the domain's invoice; the Go type producers write v1 with; the
// feed publisher used by `dealcredit publish` and a seeded generator of
// feeds. The JSON Schema of each version is docs/schema/<version>.json
// (oem_invoice.v1.json); tests keep them in step with the decoders.
package oemfeed

import (
	"strconv"
)

// SchemaV1 is the value of the "schema" field of every v1 message.
const SchemaV1 = "dealcredit.oem_invoice.v1"

// MaxMessageSize is the largest body accepted, in bytes (1 MiB).
const MaxMessageSize = 1 << 20

// MaxLines is the largest number of lines one invoice may carry.
const MaxLines = 10000

// Invoice kinds.
const (
	KindInvoice    = "invoice"
	KindCreditMemo = "credit_memo"
)

// Segments are the product segments a line may name.
var Segments = []string{
	"client_management",
	"server_management",
	"asset_management",
	"maintenance",
	"support",
	"services",
}

// Message is a dealcredit.oem_invoice.v1 invoice or credit memo as a
// producer writes it (the generator, the demo, tests); Decode reads it back
// as a domain.InvoiceReceived.
type Message struct {
	Schema             string   `json:"schema"`
	OEMID              string   `json:"oem_id"`
	InvoiceNumber      string   `json:"invoice_number"`
	Revision           int      `json:"revision"`
	Kind               string   `json:"kind"`
	CreditMemoFor      string   `json:"credit_memo_for,omitempty"`
	InvoiceDate        string   `json:"invoice_date"`
	Currency           string   `json:"currency"`
	Customer           Customer `json:"customer"`
	DealRegistrationID string   `json:"deal_registration_id,omitempty"`
	Lines              []Line   `json:"lines"`
}

// Customer is the end customer as the OEM knows it.
type Customer struct {
	OEMAccountID string `json:"oem_account_id"`
	Name         string `json:"name"`
	Country      string `json:"country"`
	Domain       string `json:"domain,omitempty"`
}

// Line is one invoice line; amounts are in minor units of the message's currency.
type Line struct {
	Line           int    `json:"line"`
	SKU            string `json:"sku"`
	Segment        string `json:"segment"`
	Quantity       int64  `json:"quantity"`
	UnitPriceMinor int64  `json:"unit_price_minor"`
	AmountMinor    int64  `json:"amount_minor"`
}

// MsgID is the Nats-Msg-Id a publisher sets: "<oem_id>:<invoice_number>:<revision>".
func MsgID(oem, invoiceNumber string, revision int) string {
	return oem + ":" + invoiceNumber + ":" + strconv.Itoa(revision)
}

// Subject is the subject an OEM publishes its invoices to.
func Subject(oem string) string { return "oem." + oem + ".invoices" }

// RejectedSubject is the dead-letter subject of an OEM's rejected messages.
func RejectedSubject(oem string) string { return "oem." + oem + ".invoices.rejected" }

// TotalMinor is the sum of the lines' amounts.
func (m Message) TotalMinor() int64 {
	var t int64
	for _, l := range m.Lines {
		t += l.AmountMinor
	}
	return t
}
