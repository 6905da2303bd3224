// Package oemfeed holds the OEM invoice feed's wire format
// (dealcredit.oem_invoice.v1): the Go types, the strict decoder, the feed
// publisher used by `dealcredit publish` and a seeded generator of feeds.
// The JSON Schema of the same format is docs/schema/oem_invoice.v1.json; a
// test keeps the two in step.
package oemfeed

import (
	"strconv"

	"dealcredit/domain"
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

// Message is one decoded, validated invoice or credit memo.
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

// Invoice returns the decoded message as the domain's invoice event, received
// from OEM oem (the subject's, which Decode checked against the body).
func (m Message) Invoice(oem string) domain.InvoiceReceived {
	inv := domain.InvoiceReceived{
		OEMID:              oem,
		InvoiceNumber:      m.InvoiceNumber,
		Revision:           m.Revision,
		Kind:               domain.InvoiceKind(m.Kind),
		CreditMemoFor:      m.CreditMemoFor,
		Currency:           m.Currency,
		Customer:           domain.Customer(m.Customer),
		DealRegistrationID: m.DealRegistrationID,
		Lines:              make([]domain.InvoiceLine, len(m.Lines)),
		Source:             Subject(oem),
	}
	inv.InvoiceDate, _ = domain.ParseDate(m.InvoiceDate) // validated by Decode
	for i, l := range m.Lines {
		inv.Lines[i] = domain.InvoiceLine{Line: l.Line, SKU: l.SKU, Segment: domain.Segment(l.Segment),
			Quantity: l.Quantity, UnitPriceMinor: l.UnitPriceMinor, AmountMinor: l.AmountMinor}
	}
	return inv
}
