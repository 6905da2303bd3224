package oemfeed

import (
	"errors"
	"math"
	"strconv"
	"strings"

	"dealcredit/domain"
)

func init() { register(SchemaV1, decodeV1) }

// v1Body is a dealcredit.oem_invoice.v1 message as decoded (Message is the
// same as a producer writes it): each member records whether it was there
// and not null.
type v1Body struct {
	Schema             optString
	OEMID              optString
	InvoiceNumber      optString
	Revision           optInt
	Kind               optString
	CreditMemoFor      optString
	InvoiceDate        optString
	Currency           optString
	Customer           v1Customer
	HasCustomer        bool
	DealRegistrationID optString
	Lines              []v1Line // nil when missing or null
}

type v1Customer struct {
	OEMAccountID optString
	Name         optString
	Country      optString
	Domain       optString
}

type v1Line struct {
	Line           optInt
	SKU            optString
	Segment        optString
	Quantity       optInt
	UnitPriceMinor optInt
	AmountMinor    optInt
}

// decodeV1 decodes a dealcredit.oem_invoice.v1 body (docs/oem-feed.md,
// docs/schema/oem_invoice.v1.json).
func decodeV1(body []byte) (domain.InvoiceReceived, error) {
	var m v1Body
	if err := walk(body, m.decode); err != nil {
		return domain.InvoiceReceived{}, err
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

// decode reads the message's members (their checks come after, in header,
// customer and lines).
func (m *v1Body) decode(w *walker) error {
	if _, err := w.open('{', "an object"); err != nil {
		return err
	} // schemaOf has refused a body that is not an object
	return w.members(func(name []byte) (bool, error) {
		switch string(name) {
		case "schema":
			return true, w.string(&m.Schema)
		case "oem_id":
			return true, w.string(&m.OEMID)
		case "invoice_number":
			return true, w.string(&m.InvoiceNumber)
		case "revision":
			return true, w.int(&m.Revision)
		case "kind":
			return true, w.string(&m.Kind)
		case "credit_memo_for":
			return true, w.string(&m.CreditMemoFor)
		case "invoice_date":
			return true, w.string(&m.InvoiceDate)
		case "currency":
			return true, w.string(&m.Currency)
		case "customer":
			return true, m.decodeCustomer(w)
		case "deal_registration_id":
			return true, w.string(&m.DealRegistrationID)
		case "lines":
			return true, m.decodeLines(w)
		}
		return false, nil
	})
}

func (m *v1Body) decodeCustomer(w *walker) error {
	present, err := w.open('{', "an object")
	if err != nil || !present {
		m.HasCustomer = false
		return err
	}
	m.HasCustomer, m.Customer = true, v1Customer{}
	c := &m.Customer
	return w.members(func(name []byte) (bool, error) {
		switch string(name) {
		case "oem_account_id":
			return true, w.string(&c.OEMAccountID)
		case "name":
			return true, w.string(&c.Name)
		case "country":
			return true, w.string(&c.Country)
		case "domain":
			return true, w.string(&c.Domain)
		}
		return false, nil
	})
}

func (m *v1Body) decodeLines(w *walker) error {
	present, err := w.open('[', "an array")
	if err != nil || !present {
		m.Lines = nil
		return err
	}
	m.Lines = make([]v1Line, 0, 4)
	for w.d.PeekKind() != ']' {
		var l v1Line
		if err := l.decode(w); err != nil {
			return err
		}
		m.Lines = append(m.Lines, l)
	}
	if _, err := w.d.ReadToken(); err != nil {
		return w.syntax(err)
	}
	return nil
}

// decode reads one line; null is a line without members.
func (l *v1Line) decode(w *walker) error {
	if present, err := w.open('{', "an object"); err != nil || !present {
		return err
	}
	return w.members(func(name []byte) (bool, error) {
		switch string(name) {
		case "line":
			return true, w.int(&l.Line)
		case "sku":
			return true, w.string(&l.SKU)
		case "segment":
			return true, w.string(&l.Segment)
		case "quantity":
			return true, w.int(&l.Quantity)
		case "unit_price_minor":
			return true, w.int(&l.UnitPriceMinor)
		case "amount_minor":
			return true, w.int(&l.AmountMinor)
		}
		return false, nil
	})
}

// header checks the top-level members and sets them on inv.
func (m *v1Body) header(inv *domain.InvoiceReceived) error {
	var err error
	if inv.OEMID, err = matching("oem_id", m.OEMID, oemIDPattern, "an OEM id (lower case letters, digits, '_' or '-', at most 32)"); err != nil {
		return err
	}
	if inv.InvoiceNumber, err = matching("invoice_number", m.InvoiceNumber, numberPattern, "an invoice number (letters, digits, '.', '_', '/', '-', at most 64)"); err != nil {
		return err
	}
	rev, err := integer("revision", m.Revision, 1, domain.MaxRevision)
	if err != nil {
		return err
	}
	inv.Revision = int(rev)
	kind, err := text("kind", m.Kind, 32)
	if err != nil {
		return err
	}
	switch kind {
	case KindInvoice:
		inv.Kind = domain.KindInvoice
	case KindCreditMemo:
		inv.Kind = domain.KindCreditMemo
	default:
		return fieldErr("kind", "%q is not %q or %q", kind, KindInvoice, KindCreditMemo)
	}
	memoFor, present, err := optText("credit_memo_for", m.CreditMemoFor, 64)
	switch {
	case err != nil:
		return err
	case kind == KindCreditMemo && !present:
		return fieldErr("credit_memo_for", "is required for kind %q", KindCreditMemo)
	case kind == KindInvoice && present:
		return fieldErr("credit_memo_for", "must be null for kind %q", KindInvoice)
	case present && !numberPattern.MatchString(memoFor):
		return fieldErr("credit_memo_for", "%q is not an invoice number", memoFor)
	case present && memoFor == inv.InvoiceNumber:
		return fieldErr("credit_memo_for", "a credit memo cannot refer to itself")
	}
	inv.CreditMemoFor = memoFor
	date, err := matching("invoice_date", m.InvoiceDate, datePattern, "a date (YYYY-MM-DD)")
	if err != nil {
		return err
	}
	if inv.InvoiceDate, err = domain.ParseDate(date); err != nil {
		return fieldErr("invoice_date", "%q is not a calendar date", date)
	}
	if err := domain.CheckDate("invoice_date", inv.InvoiceDate); err != nil {
		return fieldErr("invoice_date", "%s", strings.TrimPrefix(err.Error(), "invoice_date "))
	}
	if inv.Currency, err = text("currency", m.Currency, 3); err != nil {
		return err
	}
	if !ValidCurrency(inv.Currency) {
		return fieldErr("currency", "%q is not an ISO 4217 currency code", inv.Currency)
	}
	inv.DealRegistrationID, _, err = optText("deal_registration_id", m.DealRegistrationID, 64)
	return err
}

func (m *v1Body) customer(c *domain.Customer) error {
	if !m.HasCustomer {
		return fieldErr("customer", "is required")
	}
	mc := &m.Customer
	var err error
	if c.OEMAccountID, err = text("customer.oem_account_id", mc.OEMAccountID, 64); err != nil {
		return err
	}
	if c.Name, err = text("customer.name", mc.Name, 256); err != nil {
		return err
	}
	if c.Country, err = matching("customer.country", mc.Country, countryPattern, "an ISO 3166 alpha-2 country code"); err != nil {
		return err
	}
	if !domain.ValidCountry(c.Country) {
		return fieldErr("customer.country", "%q is not an assigned ISO 3166-1 alpha-2 country code", c.Country)
	}
	c.Domain, _, err = optText("customer.domain", mc.Domain, 253)
	return err
}

func (m *v1Body) lines(inv *domain.InvoiceReceived) error {
	switch {
	case m.Lines == nil:
		return fieldErr("lines", "is required (an array of lines)")
	case len(m.Lines) == 0:
		return fieldErr("lines", "must have at least one line")
	case len(m.Lines) > MaxLines:
		return fieldErr("lines", "has %d lines, more than %d", len(m.Lines), MaxLines)
	}
	inv.Lines = make([]domain.InvoiceLine, len(m.Lines))
	seen := make(map[int64]int, len(m.Lines))
	var total int64
	for i := range m.Lines {
		l, err := m.Lines[i].line()
		if err != nil {
			return inLine(i, err)
		}
		if j, dup := seen[int64(l.Line)]; dup {
			return inLine(i, fieldErr("line", "line number %d is also used by lines[%d]", l.Line, j))
		}
		seen[int64(l.Line)] = i
		if total += l.AmountMinor; total > domain.MaxAmountMinor {
			return fieldErr("lines", "the total amount passes %d minor units at lines[%d].amount_minor", int64(domain.MaxAmountMinor), i)
		}
		inv.Lines[i] = l
	}
	return nil
}

// line checks one line; errors name its members without the "lines[i]." prefix.
func (ml *v1Line) line() (domain.InvoiceLine, error) {
	var l domain.InvoiceLine
	n, err := integer("line", ml.Line, 1, domain.MaxLineNumber)
	if err != nil {
		return l, err
	}
	l.Line = int(n)
	if l.SKU, err = matching("sku", ml.SKU, skuPattern, "a SKU (letters, digits, '.', '_', '/', '+', '-', at most 64)"); err != nil {
		return l, err
	}
	segment, err := text("segment", ml.Segment, 32)
	if err != nil {
		return l, err
	}
	if !ValidSegment(segment) {
		return l, fieldErr("segment", "%q is not one of %s", segment, strings.Join(Segments, ", "))
	}
	l.Segment = domain.Segment(segment)
	if l.Quantity, err = integer("quantity", ml.Quantity, 1, domain.MaxQuantity); err != nil {
		return l, err
	}
	if l.UnitPriceMinor, err = integer("unit_price_minor", ml.UnitPriceMinor, 0, domain.MaxAmountMinor); err != nil {
		return l, err
	}
	if l.AmountMinor, err = integer("amount_minor", ml.AmountMinor, 0, MaxLineAmount); err != nil {
		return l, err
	}
	if l.UnitPriceMinor != 0 && l.Quantity > math.MaxInt64/l.UnitPriceMinor {
		return l, fieldErr("amount_minor", "quantity x unit_price_minor overflows 64-bit minor units")
	}
	if want := l.Quantity * l.UnitPriceMinor; l.AmountMinor != want {
		return l, fieldErr("amount_minor", "must equal quantity x unit_price_minor = %d, got %d", want, l.AmountMinor)
	}
	return l, nil
}

// inLine puts the field of a line's error under "lines[i]".
func inLine(i int, err error) error {
	var de *DecodeError
	if errors.As(err, &de) {
		de.Field = "lines[" + strconv.Itoa(i) + "]." + de.Field
	}
	return err
}
