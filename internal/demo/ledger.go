package demo

import (
	"encoding/json"
	"fmt"

	"dealcredit/domain"
)

// ledgerLine is one attribution ledger line as the API serves it. The
// amount may come as a Money object or as amount_minor beside currency.
type ledgerLine struct {
	OEMID          string          `json:"oem_id"`
	InvoiceNumber  string          `json:"invoice_number"`
	Line           int             `json:"line"`
	Kind           string          `json:"kind"`
	PartnerID      string          `json:"partner_id"`
	Quarter        string          `json:"quarter"`
	Adjustment     bool            `json:"adjustment"`
	AdjustsQuarter string          `json:"adjusts_quarter"`
	Amount         json.RawMessage `json:"amount"`
	AmountMinor    *int64          `json:"amount_minor"`
	Currency       string          `json:"currency"`
	Reason         string          `json:"reason"`
}

// minor returns the line's amount in minor units.
func (l ledgerLine) minor() int64 {
	if l.AmountMinor != nil {
		return *l.AmountMinor
	}
	var m domain.Money
	if json.Unmarshal(l.Amount, &m) == nil {
		return m.Amount
	}
	var n int64
	if json.Unmarshal(l.Amount, &n) == nil {
		return n
	}
	return 0
}

// decodeLedger accepts the ledger as a JSON array of lines or as an object
// holding one array of lines (e.g. {"lines": [...]}).
func decodeLedger(raw json.RawMessage) ([]ledgerLine, error) {
	var lines []ledgerLine
	if err := json.Unmarshal(raw, &lines); err == nil {
		return lines, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("demo: attribution: neither a list nor an object: %w", err)
	}
	for _, k := range []string{"lines", "credits", "entries", "ledger", "items"} {
		if v, ok := obj[k]; ok {
			if err := json.Unmarshal(v, &lines); err != nil {
				return nil, fmt.Errorf("demo: attribution %s: %w", k, err)
			}
			return lines, nil
		}
	}
	return nil, fmt.Errorf("demo: attribution: no list of lines in %.200s", raw)
}

// fromCredits converts the replay's credits to ledger lines.
func fromCredits(cs []domain.Credit) []ledgerLine {
	out := make([]ledgerLine, 0, len(cs))
	for _, c := range cs {
		amt := c.Amount.Amount
		l := ledgerLine{OEMID: c.OEMID, InvoiceNumber: c.InvoiceNumber, Line: c.Line, Kind: string(c.Kind), PartnerID: c.PartnerID,
			Quarter: c.Quarter.String(), Adjustment: c.Adjustment, Currency: c.Amount.Currency, Reason: c.Reason, AmountMinor: &amt}
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
}

// decodeMix finds the currency's mix in the answer of GET /v1/revenue-mix:
// a list of domain.Mix, one Mix, or an object holding a list of them.
func decodeMix(raw json.RawMessage, currency string) (mixOf, error) {
	var list []domain.Mix
	if err := json.Unmarshal(raw, &list); err != nil {
		var one domain.Mix
		var obj map[string]json.RawMessage
		switch {
		case json.Unmarshal(raw, &obj) == nil && obj["indirect_share_bps"] != nil:
			if err := json.Unmarshal(raw, &one); err != nil {
				return mixOf{}, fmt.Errorf("demo: revenue mix: %w", err)
			}
			list = []domain.Mix{one}
		case obj != nil:
			for _, k := range []string{"mix", "currencies", "by_currency", "items"} {
				if v, ok := obj[k]; ok {
					if err := json.Unmarshal(v, &list); err != nil {
						return mixOf{}, fmt.Errorf("demo: revenue mix %s: %w", k, err)
					}
					break
				}
			}
		default:
			return mixOf{}, fmt.Errorf("demo: revenue mix: %w", err)
		}
	}
	for _, m := range list {
		if m.Currency == currency || m.Currency == "" {
			return mixOf{Direct: m.Direct, Indirect: m.Indirect, ShareBPS: m.IndirectShareBPS}, nil
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
