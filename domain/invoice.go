package domain

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
)

// Segment is a product segment of an invoice line or a registration.
type Segment string

// Segments. The first three are the attributable software segments.
const (
	SegmentClientManagement Segment = "client_management"
	SegmentServerManagement Segment = "server_management"
	SegmentAssetManagement  Segment = "asset_management"
	SegmentMaintenance      Segment = "maintenance"
	SegmentSupport          Segment = "support"
	SegmentServices         Segment = "services"
)

// SoftwareSegments are the three attributable software segments, in canonical order.
var SoftwareSegments = []Segment{SegmentClientManagement, SegmentServerManagement, SegmentAssetManagement}

// Valid reports whether s is a known segment.
func (s Segment) Valid() bool {
	switch s {
	case SegmentClientManagement, SegmentServerManagement, SegmentAssetManagement,
		SegmentMaintenance, SegmentSupport, SegmentServices:
		return true
	}
	return false
}

// Software reports whether s is one of the three attributable software segments.
func (s Segment) Software() bool {
	return s == SegmentClientManagement || s == SegmentServerManagement || s == SegmentAssetManagement
}

// Direct reports whether s is always direct revenue (maintenance and support entitlements).
func (s Segment) Direct() bool { return s == SegmentMaintenance || s == SegmentSupport }

// InvoiceKind says whether an OEM document is an invoice or a credit memo.
type InvoiceKind string

// Invoice kinds.
const (
	KindInvoice    InvoiceKind = "invoice"
	KindCreditMemo InvoiceKind = "credit_memo"
)

// Customer is the end customer as named on an OEM invoice or a registration.
type Customer struct {
	OEMAccountID string `json:"oem_account_id,omitempty"`
	Name         string `json:"name"`
	Country      string `json:"country"`
	Domain       string `json:"domain,omitempty"`
}

// InvoiceLine is one line of an OEM invoice. Amounts are in the invoice's currency's minor
// unit; on a credit memo they are positive numbers that reduce the original.
type InvoiceLine struct {
	Line           int     `json:"line"`
	SKU            string  `json:"sku"`
	Segment        Segment `json:"segment"`
	Quantity       int64   `json:"quantity"`
	UnitPriceMinor int64   `json:"unit_price_minor"`
	AmountMinor    int64   `json:"amount_minor"`
}

// InvoiceReceived is an OEM invoice or credit memo as received (event "invoice.received"
// v1) on stream InvoiceStream(OEMID, InvoiceNumber). A higher Revision of the same number
// replaces the earlier one. A credit memo names the invoice it reduces in CreditMemoFor and
// its own number in InvoiceNumber; its line numbers refer to the original's lines.
type InvoiceReceived struct {
	OEMID              string        `json:"oem_id"`
	InvoiceNumber      string        `json:"invoice_number"`
	Revision           int           `json:"revision"`
	Kind               InvoiceKind   `json:"kind"`
	CreditMemoFor      string        `json:"credit_memo_for,omitempty"`
	InvoiceDate        Date          `json:"invoice_date"`
	Currency           string        `json:"currency"`
	Customer           Customer      `json:"customer"`
	DealRegistrationID string        `json:"deal_registration_id,omitempty"`
	Lines              []InvoiceLine `json:"lines"`
	Source             string        `json:"source,omitempty"`
}

// InvoiceRejected is a dead-lettered OEM message kept as a fact finance can see (event
// "invoice.rejected" v1) on stream RejectionStream(OEMID).
type InvoiceRejected struct {
	OEMID         string `json:"oem_id"`
	Subject       string `json:"subject"`
	StreamSeq     uint64 `json:"stream_seq"`
	InvoiceNumber string `json:"invoice_number,omitempty"`
	Reason        string `json:"reason"`
	BodySHA256    string `json:"body_sha256"`
}

// MaxInvoiceLines bounds the lines of one invoice.
const MaxInvoiceLines = 10000

// MaxLineAmount bounds a line amount (10^15 minor units); Validate also bounds the
// invoice's total by MaxAmountMinor, so Total never wraps and a projection's sums fit.
const MaxLineAmount = MaxAmountMinor

// Validate checks the domain rules of an invoice or credit memo: ids present, revision >= 1,
// known kind, credit memo names its original, date present, currency valid, customer named,
// lines present with unique positive numbers, known segments, positive quantity, unit price
// >= 0 and amount = quantity x unit price. The error is a *Error (Invalid) naming the field
// like "lines[2].amount_minor" (index in the lines array, from 0).
func (inv InvoiceReceived) Validate() error {
	switch {
	case !validID(inv.OEMID):
		return invalidf("oem_id", "oem_id %s must be 1-64 characters of a-z, 0-9, '_' or '-'", Quote(inv.OEMID))
	case inv.Revision < 1 || inv.Revision > MaxRevision:
		return invalidf("revision", "revision must be 1 to %d, got %d", MaxRevision, inv.Revision)
	case inv.Kind != KindInvoice && inv.Kind != KindCreditMemo:
		return invalidf("kind", "kind %q must be invoice or credit_memo", inv.Kind)
	case inv.Kind == KindCreditMemo && inv.CreditMemoFor == "":
		return invalidf("credit_memo_for", "a credit memo must name the invoice it reduces in credit_memo_for")
	case inv.Kind == KindInvoice && inv.CreditMemoFor != "":
		return invalidf("credit_memo_for", "credit_memo_for is only allowed on a credit memo")
	case inv.Kind == KindCreditMemo && inv.CreditMemoFor == inv.InvoiceNumber:
		return invalidf("credit_memo_for", "a credit memo cannot reduce itself")
	case inv.InvoiceDate.IsZero():
		return invalidf("invoice_date", "invoice_date is required")
	case !ValidCurrency(inv.Currency):
		return invalidf("currency", "currency %s is not a supported ISO 4217 code", Quote(inv.Currency))
	case len(inv.Lines) == 0:
		return invalidf("lines", "an invoice needs at least one line")
	case len(inv.Lines) > MaxInvoiceLines:
		return invalidf("lines", "an invoice has at most %d lines", MaxInvoiceLines)
	}
	if err := inv.checkText(); err != nil {
		return err
	}
	var seen map[int]bool // only for long invoices; short ones are scanned
	if len(inv.Lines) > 32 {
		seen = make(map[int]bool, len(inv.Lines))
	}
	var total int64
	for i, l := range inv.Lines {
		// A repeated number is reported before the line's other problems
		// (an earlier line with the same number was in range).
		if seen[l.Line] || seen == nil && slices.ContainsFunc(inv.Lines[:i], func(o InvoiceLine) bool { return o.Line == l.Line }) {
			f := "lines[" + strconv.Itoa(i) + "].line"
			return invalidf(f, "%s: line number %d appears twice", f, l.Line)
		}
		if err := checkLine(l, "line", "segment", "quantity", "sku", "unit_price_minor", "amount_minor"); err != nil {
			// Only a line that fails gets its field names built.
			f := func(name string) string { return "lines[" + strconv.Itoa(i) + "]." + name }
			return checkLine(l, f("line"), f("segment"), f("quantity"), f("sku"), f("unit_price_minor"), f("amount_minor"))
		}
		if total += l.AmountMinor; total > MaxAmountMinor {
			return invalidf("lines", "the total of the line amounts passes %d minor units at lines[%d].amount_minor", int64(MaxAmountMinor), i)
		}
		if seen != nil {
			seen[l.Line] = true
		}
	}
	return nil
}

// checkLine checks one line on its own, naming its fields as given.
func checkLine(l InvoiceLine, line, segment, quantity, sku, unitPrice, amount string) error {
	switch {
	case l.Line < 1 || l.Line > MaxLineNumber:
		return invalidf(line, "%s must be 1 to %d, got %d", line, MaxLineNumber, l.Line)
	case !l.Segment.Valid():
		return invalidf(segment, "%s %s is not a known segment", segment, Quote(string(l.Segment)))
	case l.Quantity <= 0 || l.Quantity > MaxQuantity:
		return invalidf(quantity, "%s must be 1 to %d, got %d", quantity, int64(MaxQuantity), l.Quantity)
	}
	if err := CheckRequiredText(sku, l.SKU, MaxRefLen); err != nil {
		return err
	}
	if err := CheckAmount(unitPrice, l.UnitPriceMinor, 0); err != nil {
		return err
	}
	if err := CheckAmount(amount, l.AmountMinor, 0); err != nil {
		return err
	}
	if hi, lo := mul64(l.Quantity, l.UnitPriceMinor); hi != 0 || lo != l.AmountMinor {
		return invalidf(amount, "%s %d is not quantity %d x unit_price_minor %d", amount, l.AmountMinor, l.Quantity, l.UnitPriceMinor)
	}
	return nil
}

func (inv InvoiceReceived) checkText() error {
	for _, t := range []struct {
		field, v string
		max      int
	}{
		{"invoice_number", inv.InvoiceNumber, MaxInvoiceNumberLen},
		{"credit_memo_for", inv.CreditMemoFor, MaxInvoiceNumberLen},
		{"deal_registration_id", inv.DealRegistrationID, MaxRefLen},
		{"source", inv.Source, MaxInvoiceNumberLen},
	} {
		if err := CheckText(t.field, t.v, t.max); err != nil {
			return err
		}
	}
	if err := CheckRequiredText("invoice_number", inv.InvoiceNumber, MaxInvoiceNumberLen); err != nil {
		return err
	}
	if err := CheckDate("invoice_date", inv.InvoiceDate); err != nil {
		return err
	}
	return CheckCustomer("customer", inv.Customer)
}

// mul64 multiplies two non-negative int64 values, returning hi != 0 on overflow of int64.
func mul64(a, b int64) (hi int64, lo int64) {
	p := a * b
	if a != 0 && (p/a != b || p < 0) {
		return 1, 0
	}
	return 0, p
}

// Total returns the sum of the line amounts.
func (inv InvoiceReceived) Total() Money {
	var t int64
	for _, l := range inv.Lines {
		t += l.AmountMinor
	}
	return Money{Amount: t, Currency: inv.Currency}
}

// NaturalKey returns "<oem>:<number>:<revision>", the Nats-Msg-Id of the message.
func (inv InvoiceReceived) NaturalKey() string {
	return inv.OEMID + ":" + inv.InvoiceNumber + ":" + strconv.Itoa(inv.Revision)
}

// validID reports whether s is a usable partner/OEM/geography id.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidID reports whether s is a valid id for a partner, OEM, geography, deal, lead or
// field rep: 1-64 characters of a-z, 0-9, '_' and '-'.
func ValidID(s string) bool { return validID(s) }

// InvoiceStream returns the stream of an OEM invoice: "invoice-<oem>-<number>".
func InvoiceStream(oemID, invoiceNumber string) string {
	return "invoice-" + oemID + "-" + invoiceNumber
}

// InvoiceEventID returns the deterministic event id of an invoice revision: a UUID version 5
// (RFC 9562, SHA-1 name-based) of "<oem>:<number>:<revision>" in the dealcredit namespace.
// The natural key becomes the event id, so the log's permanent event-id uniqueness turns a
// redelivery into a no-op.
func InvoiceEventID(oemID, invoiceNumber string, revision int) string {
	return NameID("invoice:" + oemID + ":" + invoiceNumber + ":" + strconv.Itoa(revision))
}

// RejectionEventID returns the deterministic event id of a dead-lettered OEM message.
func RejectionEventID(oemID string, streamSeq uint64) string {
	return NameID(fmt.Sprintf("rejection:%s:%d", oemID, streamSeq))
}

// namespace is the dealcredit UUID namespace (itself the v5 UUID of "dealcredit" in the
// RFC 9562 URL namespace, fixed here as bytes).
var namespace = [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// NameID returns the canonical 8-4-4-4-12 string of the UUID version 5 of name in the
// dealcredit namespace. The same name always gives the same id.
func NameID(name string) string {
	var buf [128]byte
	sum := sha1.Sum(append(append(buf[:0], namespace[:]...), name...))
	var u [16]byte
	copy(u[:], sum[:])
	u[6] = (u[6] & 0x0f) | 0x50 // version 5
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 4122 variant
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}
