package demo

import (
	"encoding/json"
	"fmt"

	"dealcredit/domain"
)

// ledgerLine is one attribution ledger line as GET /v1/attribution serves
// it (attribution.LedgerLine, the fields the demo reads).
type ledgerLine struct {
	OEMID          string `json:"oem_id"`
	InvoiceNumber  string `json:"invoice_number"`
	Line           int    `json:"line"`
	Kind           string `json:"kind"`
	PartnerID      string `json:"partner_id"`
	Quarter        string `json:"quarter"`
	Adjustment     bool   `json:"adjustment"`
	AdjustsQuarter string `json:"adjusts_quarter"`
	AmountMinor    int64  `json:"amount_minor"`
	Currency       string `json:"currency"`
	Reason         string `json:"reason"`
}

// minor returns the line's amount in minor units.
func (l ledgerLine) minor() int64 { return l.AmountMinor }

// decodeLedger decodes the data of GET /v1/attribution: a list of lines.
// Anything else is an error, so a change of the API's shape fails the demo.
func decodeLedger(raw json.RawMessage) ([]ledgerLine, error) {
	var lines []ledgerLine
	if err := json.Unmarshal(raw, &lines); err != nil {
		return nil, fmt.Errorf("demo: attribution is not a list of ledger lines: %w", err)
	}
	for i, l := range lines {
		if l.OEMID == "" || l.Kind == "" || l.Currency == "" {
			return nil, fmt.Errorf("demo: attribution line %d lacks oem_id, kind or currency: %+v", i, l)
		}
	}
	return lines, nil
}

// fromCredits converts the replay's credits to ledger lines.
func fromCredits(cs []domain.Credit) []ledgerLine {
	out := make([]ledgerLine, 0, len(cs))
	for _, c := range cs {
		l := ledgerLine{OEMID: c.OEMID, InvoiceNumber: c.InvoiceNumber, Line: c.Line, Kind: string(c.Kind), PartnerID: c.PartnerID,
			Quarter: c.Quarter.String(), Adjustment: c.Adjustment, Currency: c.Amount.Currency, Reason: c.Reason, AmountMinor: c.Amount.Amount}
		if c.Adjustment {
			l.AdjustsQuarter = c.AdjustsQuarter.String()
		}
		out = append(out, l)
	}
	return out
}

// mixOf is the revenue mix of one quarter in one currency.
type mixOf struct {
	Direct, Indirect, ShareBPS int64
	AdjDirect, AdjIndirect     int64 // adjustments booked for closed quarters
}

func mixFrom(m domain.Mix) mixOf {
	return mixOf{Direct: m.Direct, Indirect: m.Indirect, ShareBPS: m.IndirectShareBPS,
		AdjDirect: m.AdjustmentDirect, AdjIndirect: m.AdjustmentIndirect}
}

// decodeMix finds the currency's mix in the data of GET /v1/revenue-mix: a
// list of mixes, one per currency. Anything else is an error.
func decodeMix(raw json.RawMessage, currency string) (mixOf, error) {
	var list []domain.Mix
	if err := json.Unmarshal(raw, &list); err != nil {
		return mixOf{}, fmt.Errorf("demo: revenue mix is not a list: %w", err)
	}
	for _, m := range list {
		if m.Currency == currency {
			return mixFrom(m), nil
		}
	}
	return mixOf{}, fmt.Errorf("demo: revenue mix has no %s entry: %.300s", currency, raw)
}

// figures are the story's numbers, computed the same way from the API's
// ledger and from the auditor's replay.
type figures struct {
	Credited, Rebate, Service, Adjustment int64
	Unattributed                          int
}

// figuresOf sums the ledger lines of the demo's invoices.
func figuresOf(lines []ledgerLine, s *story) figures {
	var f figures
	for _, l := range lines {
		switch {
		case l.InvoiceNumber == s.hpInvoice && l.PartnerID == s.platinum && l.Kind == string(domain.CreditRevenue):
			f.Credited += l.minor()
		case l.InvoiceNumber == s.hpInvoice && l.PartnerID == s.platinum && l.Kind == string(domain.CreditRebate):
			f.Rebate += l.minor()
		case l.InvoiceNumber == s.hpServices && l.PartnerID == s.platinum && l.Kind == string(domain.CreditService):
			f.Service += l.minor()
		case l.InvoiceNumber == s.dellInvoice && l.Kind == string(domain.CreditUnattributed):
			f.Unattributed++
		}
		// A memo's clawback lines carry the original invoice's number and line.
		if (l.InvoiceNumber == s.hpMemo || l.InvoiceNumber == s.hpRenewal) && l.Adjustment && l.Quarter == s.quarter.String() {
			f.Adjustment += l.minor()
		}
	}
	return f
}
