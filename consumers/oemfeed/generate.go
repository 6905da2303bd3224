package oemfeed

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"
)

// GenOptions configures Generate and GenerateMessages. Zero fields take the
// defaults given on each field.
type GenOptions struct {
	// Seed makes the output reproducible: the same options give the same bytes.
	Seed uint64
	// Invoices is the number of distinct invoices and credit memos (default 100).
	Invoices int
	// OEMs publishing (default ["hp"]); invoices are spread evenly.
	OEMs []string
	// Customers is the size of the customer pool (default 50). Customers
	// 0..MatchingCustomers-1 are the ones the demo registers deals for.
	Customers int
	// MalformedFraction of the messages are invalid, each in one way (default 0).
	MalformedFraction float64
	// CreditMemoFraction of the documents are credit memos for an earlier invoice (default 0).
	CreditMemoFraction float64
	// RevisionFraction of the invoices get a second revision (default 0).
	RevisionFraction float64
	// DuplicateFraction of the valid messages are sent twice, byte for byte (default 0).
	DuplicateFraction float64
	// Lines per document (default 3).
	Lines int
	// Start is the first invoice date (default 2026-01-01); dates spread over 90 days.
	Start time.Time
}

// Generated is one generated message.
type Generated struct {
	OEM  string
	Body []byte
	// Valid is false for the deliberately malformed messages.
	Valid bool
	// Message is the decoded message when Valid.
	Message Message
	// Flaw names the defect of a malformed message.
	Flaw string
	// Duplicate is true for a byte-for-byte repeat of an earlier message.
	Duplicate bool
}

// CustomerName returns the name of customer i of the generator's pool.
func CustomerName(i int) string {
	return fmt.Sprintf("%s %s %d", prefixes[i%len(prefixes)], suffixes[(i/len(prefixes))%len(suffixes)], i)
}

var (
	prefixes  = []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne"}
	suffixes  = []string{"Corp", "GmbH", "Ltd", "Inc", "AG", "SA"}
	countries = []string{"US", "DE", "GB", "FR", "JP", "CH"}
	currency  = map[string]string{"US": "USD", "DE": "EUR", "GB": "GBP", "FR": "EUR", "JP": "JPY", "CH": "CHF"}
	skus      = map[string][]string{
		"client_management": {"ALT-CMS-100", "ALT-CMS-500"},
		"server_management": {"ALT-SMS-10", "ALT-SMS-50"},
		"asset_management":  {"ALT-AMS-1"},
		"maintenance":       {"ALT-MNT-1Y"},
		"support":           {"ALT-SUP-GOLD"},
		"services":          {"ALT-SRV-DAY"},
	}
	flaws = []string{"wrong_amount", "negative_quantity", "unknown_currency", "unknown_segment", "unknown_field",
		"float_quantity", "bad_date", "empty_lines", "truncated", "oem_mismatch", "duplicate_line", "memo_without_reference", "duplicate_key"}
)

// GenerateMessages returns the messages of a seeded feed, in publishing
// order: invoices, their revisions and credit memos after them, duplicates
// and malformed messages interleaved.
func GenerateMessages(o GenOptions) []Generated {
	if o.Invoices <= 0 {
		o.Invoices = 100
	}
	if len(o.OEMs) == 0 {
		o.OEMs = []string{"hp"}
	}
	if o.Customers <= 0 {
		o.Customers = 50
	}
	if o.Lines <= 0 {
		o.Lines = 3
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	var out []Generated
	var invoices []Message
	emit := func(oem string, m Message) {
		body, _ := json.Marshal(m)
		g := Generated{OEM: oem, Body: body, Valid: true, Message: m}
		if o.MalformedFraction > 0 && rng.Float64() < o.MalformedFraction {
			g.Flaw = flaws[rng.IntN(len(flaws))]
			g.Body, g.Valid, g.Message = malform(g.Flaw, body, m), false, Message{}
		}
		out = append(out, g)
		if g.Valid && o.DuplicateFraction > 0 && rng.Float64() < o.DuplicateFraction {
			d := g
			d.Duplicate = true
			out = append(out, d)
		}
	}
	segments := Segments
	for i := 0; i < o.Invoices; i++ {
		oem := o.OEMs[i%len(o.OEMs)]
		cust := rng.IntN(o.Customers)
		country := countries[cust%len(countries)]
		m := Message{
			Schema: SchemaV1, OEMID: oem, Revision: 1, Kind: KindInvoice,
			InvoiceNumber: fmt.Sprintf("%s-%d-%06d", strings.ToUpper(oem), o.Start.Year(), i+1),
			InvoiceDate:   o.Start.AddDate(0, 0, rng.IntN(90)).Format(time.DateOnly),
			Currency:      currency[country],
			Customer: Customer{OEMAccountID: fmt.Sprintf("C-%05d", cust), Name: CustomerName(cust), Country: country,
				Domain: fmt.Sprintf("%s%d.example", strings.ToLower(prefixes[cust%len(prefixes)]), cust)},
		}
		for l := 1; l <= o.Lines; l++ {
			seg := segments[rng.IntN(len(segments))]
			q := int64(1 + rng.IntN(200))
			p := int64(100 + rng.IntN(100000))
			m.Lines = append(m.Lines, Line{Line: l, SKU: skus[seg][rng.IntN(len(skus[seg]))], Segment: seg,
				Quantity: q, UnitPriceMinor: p, AmountMinor: q * p})
		}
		if len(invoices) > 0 && o.CreditMemoFraction > 0 && rng.Float64() < o.CreditMemoFraction {
			orig := invoices[rng.IntN(len(invoices))]
			if orig.OEMID == oem {
				m.Kind, m.CreditMemoFor = KindCreditMemo, orig.InvoiceNumber
				m.InvoiceNumber = fmt.Sprintf("%s-CM-%06d", strings.ToUpper(oem), i+1)
				m.Customer, m.Currency = orig.Customer, orig.Currency
				m.Lines = []Line{orig.Lines[0]}
				m.Lines[0].Quantity = 1 + int64(rng.IntN(int(orig.Lines[0].Quantity)))
				m.Lines[0].AmountMinor = m.Lines[0].Quantity * m.Lines[0].UnitPriceMinor
			}
		}
		emit(oem, m)
		if m.Kind == KindInvoice {
			invoices = append(invoices, m)
		}
		if o.RevisionFraction > 0 && rng.Float64() < o.RevisionFraction {
			r := m
			r.Revision = 2
			r.Lines = append([]Line(nil), m.Lines...)
			r.Lines[0].Quantity++
			r.Lines[0].AmountMinor = r.Lines[0].Quantity * r.Lines[0].UnitPriceMinor
			emit(oem, r)
		}
	}
	return out
}

// malform returns body broken in the way flaw names.
func malform(flaw string, body []byte, m Message) []byte {
	s := string(body)
	l0, _ := json.Marshal(m.Lines[0])
	line := string(l0)
	switch flaw {
	case "wrong_amount":
		return []byte(strings.Replace(s, fmt.Sprintf(`"amount_minor":%d`, m.Lines[0].AmountMinor), fmt.Sprintf(`"amount_minor":%d`, m.Lines[0].AmountMinor+1), 1))
	case "negative_quantity":
		return []byte(strings.Replace(s, fmt.Sprintf(`"quantity":%d`, m.Lines[0].Quantity), fmt.Sprintf(`"quantity":-%d`, m.Lines[0].Quantity), 1))
	case "unknown_currency":
		return []byte(strings.Replace(s, `"currency":"`+m.Currency+`"`, `"currency":"XYZ"`, 1))
	case "unknown_segment":
		return []byte(strings.Replace(s, `"segment":"`+m.Lines[0].Segment+`"`, `"segment":"hardware"`, 1))
	case "unknown_field":
		return []byte(strings.Replace(s, `"revision":`, `"discount_pct":5,"revision":`, 1))
	case "float_quantity":
		return []byte(strings.Replace(s, fmt.Sprintf(`"quantity":%d`, m.Lines[0].Quantity), fmt.Sprintf(`"quantity":%d.5`, m.Lines[0].Quantity), 1))
	case "bad_date":
		return []byte(strings.Replace(s, `"invoice_date":"`+m.InvoiceDate+`"`, `"invoice_date":"2026-02-30"`, 1))
	case "empty_lines":
		return []byte(s[:strings.Index(s, `"lines":`)] + `"lines":[]}`)
	case "truncated":
		return body[:len(body)/2]
	case "oem_mismatch":
		return []byte(strings.Replace(s, `"oem_id":"`+m.OEMID+`"`, `"oem_id":"someoneelse"`, 1))
	case "duplicate_line":
		return []byte(strings.Replace(s, `"lines":[`+line, `"lines":[`+line+`,`+line, 1))
	case "memo_without_reference":
		if m.Kind == KindCreditMemo {
			return []byte(strings.Replace(s, `"credit_memo_for":"`+m.CreditMemoFor+`",`, ``, 1))
		}
		return []byte(strings.Replace(s, `"kind":"invoice"`, `"kind":"credit_memo"`, 1))
	case "duplicate_key":
		return []byte(strings.Replace(s, `"schema":`, `"oem_id":"`+m.OEMID+`","schema":`, 1))
	}
	return body
}

// Generate writes GenerateMessages(o) to w as JSON lines, one message per
// line. Feed each OEM's lines to its own `dealcredit publish --oem` (with
// several OEMs in o.OEMs the lines are interleaved; use one OEM per file).
func Generate(w io.Writer, o GenOptions) error {
	bw := bufio.NewWriter(w)
	for _, g := range GenerateMessages(o) {
		if _, err := bw.Write(g.Body); err != nil {
			return fmt.Errorf("oemfeed: generate: %w", err)
		}
		if err := bw.WriteByte('\n'); err != nil {
			return fmt.Errorf("oemfeed: generate: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("oemfeed: generate: %w", err)
	}
	return nil
}
