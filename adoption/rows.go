package adoption

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"dealcredit/app"
	"dealcredit/consumers/oemfeed"
	"dealcredit/domain"
)

var (
	partnerColumns = columns{
		all:      []string{"partner_id", "name", "kind", "geography", "tier", "grandfathered", "joined_on", "review_on"},
		required: []string{"partner_id", "name", "kind", "geography", "tier"},
	}
	tierHistoryColumns = columns{
		all:      []string{"partner_id", "tier", "from"},
		required: []string{"partner_id", "tier", "from"},
	}
	registrationColumns = columns{
		all: []string{"deal_id", "partner_id", "customer_name", "customer_country", "customer_domain", "customer_oem_account_id",
			"geography", "size_band", "segments", "expected_value_minor", "currency", "oem_id", "registered_on", "approved_on"},
		required: []string{"deal_id", "partner_id", "customer_name", "customer_country", "geography", "segments",
			"expected_value_minor", "currency", "registered_on"},
	}
	engagementColumns = columns{
		all:      []string{"deal_id", "step", "occurred_on", "oem_id", "notes"},
		required: []string{"deal_id", "step", "occurred_on"},
	}
)

// partners reads partners.csv.
func (p *parser) partners(b []byte) {
	p.table(PartnersFile, b, partnerColumns, func(r *record) {
		row := app.ImportPartner{Row: r.Row, ID: r.id("partner_id", false), Name: r.required("name", domain.MaxNameLen),
			Kind: domain.PartnerKind(r.word("kind")), Geography: r.id("geography", false), Tier: r.tier("tier"),
			Grandfathered: r.boolean("grandfathered"), JoinedOn: r.date("joined_on", true), ReviewOn: r.date("review_on", true)}
		switch {
		case !row.Kind.Valid():
			r.invalid("kind", "kind %s must be var, si or oem", domain.Quote(string(row.Kind)))
		case row.Grandfathered && row.Tier != domain.TierGold:
			r.invalid("tier", "a grandfathered partner is gold, not %s", row.Tier)
		case !row.Grandfathered && !row.ReviewOn.IsZero():
			r.invalid("review_on", "review_on is for grandfathered partners only")
		}
		if r.bad {
			p.refusedPartner[row.ID] = true
			return
		}
		if i, dup := p.partnerRow[row.ID]; dup {
			r.invalid("partner_id", "partner %s is listed twice (first on line %d)", row.ID, p.set.Partners[i].Line)
			return
		}
		p.partnerRow[row.ID] = len(p.set.Partners)
		p.set.Partners = append(p.set.Partners, row)
	})
}

// tierHistory reads tier_history.csv onto the partners read before: each
// partner's past tiers, ordered by date.
func (p *parser) tierHistory(b []byte) {
	p.table(TierHistoryFile, b, tierHistoryColumns, func(r *record) {
		id, tier, from := r.id("partner_id", false), r.tier("tier"), r.date("from", false)
		if r.bad {
			return
		}
		i, ok := p.partnerRow[id]
		if !ok && p.refusedPartner[id] {
			return // its partner's row is refused already
		}
		if !ok {
			r.invalid("partner_id", "partner %s is not in %s", id, PartnersFile)
			return
		}
		pt := &p.set.Partners[i]
		if len(pt.TierHistory) >= domain.MaxTierHistory {
			r.invalid("partner_id", "partner %s has more than %d past tiers", id, domain.MaxTierHistory)
			return
		}
		for k, h := range pt.TierHistory {
			if h.From == from {
				r.invalid("from", "partner %s already has a tier from %s (line %d)", id, from, pt.HistoryRows[k].Line)
				return
			}
		}
		pt.TierHistory = append(pt.TierHistory, domain.PastTier{Tier: tier, From: from})
		pt.HistoryRows = append(pt.HistoryRows, r.Row)
	})
	for i := range p.set.Partners {
		sortHistory(&p.set.Partners[i])
	}
}

// sortHistory orders a partner's past tiers (and their rows) by date.
func sortHistory(pt *app.ImportPartner) {
	idx := make([]int, len(pt.TierHistory))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return pt.TierHistory[a].From.Compare(pt.TierHistory[b].From) })
	hist := make([]domain.PastTier, len(idx))
	rows := make([]app.Row, len(idx))
	for k, i := range idx {
		hist[k], rows[k] = pt.TierHistory[i], pt.HistoryRows[i]
	}
	pt.TierHistory, pt.HistoryRows = hist, rows
}

// registrations reads registrations.csv.
func (p *parser) registrations(b []byte) {
	seen := map[string]int{}
	p.table(RegistrationsFile, b, registrationColumns, func(r *record) {
		reg := domain.Register{
			DealID: r.id("deal_id", false), PartnerID: r.id("partner_id", false),
			Customer: domain.Customer{Name: r.required("customer_name", domain.MaxNameLen), Country: r.word("customer_country"),
				Domain: r.text("customer_domain", domain.MaxDomainLen), OEMAccountID: r.text("customer_oem_account_id", domain.MaxRefLen)},
			Geography: r.id("geography", false), SizeBand: r.text("size_band", domain.MaxRefLen),
			Segments:      segments(r.word("segments")),
			ExpectedValue: domain.Money{Amount: r.amount("expected_value_minor", 1), Currency: r.word("currency")},
			OEMID:         r.id("oem_id", true),
		}
		row := app.ImportRegistration{Row: r.Row, Register: reg, RegisteredOn: r.date("registered_on", false), ApprovedOn: r.date("approved_on", true)}
		if !r.bad {
			if err := domain.CheckCustomer("customer", reg.Customer); err != nil {
				r.refuse(renameCustomer(err))
			}
		}
		if !r.bad && !domain.ValidCurrency(reg.ExpectedValue.Currency) {
			r.invalid("currency", "currency %s is not a supported ISO 4217 code", domain.Quote(reg.ExpectedValue.Currency))
		}
		if !r.bad && !row.ApprovedOn.IsZero() && row.ApprovedOn.Before(row.RegisteredOn) {
			r.invalid("approved_on", "approved_on %s is before registered_on %s", row.ApprovedOn, row.RegisteredOn)
		}
		if r.bad {
			return
		}
		if line, dup := seen[reg.DealID]; dup {
			r.invalid("deal_id", "deal %s is listed twice (first on line %d)", reg.DealID, line)
			return
		}
		seen[reg.DealID] = r.Line
		p.set.Registrations = append(p.set.Registrations, row)
	})
}

// segments splits "client_management;server_management".
func segments(v string) []domain.Segment {
	var out []domain.Segment
	for s := range strings.SplitSeq(v, ";") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, domain.Segment(s))
		}
	}
	return out
}

// renameCustomer turns the API's "customer.name" into the column
// "customer_name".
func renameCustomer(err error) error {
	var de *domain.Error
	if errors.As(err, &de) && strings.HasPrefix(de.Field, "customer.") {
		c := *de
		c.Field = strings.Replace(de.Field, "customer.", "customer_", 1)
		return &c
	}
	return err
}

// engagements reads engagements.csv.
func (p *parser) engagements(b []byte) {
	p.table(EngagementsFile, b, engagementColumns, func(r *record) {
		row := app.ImportEngagement{Row: r.Row, DealID: r.id("deal_id", false), Step: domain.LogEngagement{
			Step: domain.Step(r.word("step")), OccurredOn: r.date("occurred_on", false),
			OEMID: r.id("oem_id", true), Notes: r.text("notes", domain.MaxNotesLen)}}
		if !r.bad && !row.Step.Step.Valid() {
			r.invalid("step", "step %s is not a known engagement step", domain.Quote(string(row.Step.Step)))
		}
		if !r.bad {
			p.set.Engagements = append(p.set.Engagements, row)
		}
	})
}

// invoices reads invoices.jsonl: one OEM feed message
// (dealcredit.oem_invoice.v1, docs/oem-feed.md) per line.
func (p *parser) invoices(b []byte) {
	if b == nil {
		return
	}
	seen := map[string]int{}
	lines := bytes.Split(stripBOM(b), []byte("\n"))
	if len(lines) > MaxRows {
		p.fail(app.Row{File: InvoicesFile, Line: MaxRows + 1}, "", "the file has more than %d lines; split the import", MaxRows)
		return
	}
	for i, line := range lines {
		row := app.Row{File: InvoicesFile, Line: i + 1}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		inv, err := oemfeed.Decode("", line)
		if err == nil {
			err = inv.Validate()
		}
		if err != nil {
			p.invoiceError(row, err)
			continue
		}
		key := inv.NaturalKey()
		if first, dup := seen[key]; dup {
			p.fail(row, "revision", "%s invoice %s revision %d is listed twice (first on line %d)", inv.OEMID, inv.InvoiceNumber, inv.Revision, first)
			continue
		}
		seen[key] = row.Line
		p.set.Invoices = append(p.set.Invoices, app.ImportInvoice{Row: row, Invoice: inv})
	}
}

// invoiceError refuses an invoice line for a decoding or domain error.
func (p *parser) invoiceError(row app.Row, err error) {
	var (
		fe *oemfeed.DecodeError
		de *domain.Error
	)
	switch {
	case errors.As(err, &fe):
		p.fail(row, fe.Field, "%s", fe.Reason)
	case errors.As(err, &de):
		p.fail(row, de.Field, "%s", de.Message)
	default:
		p.fail(row, "", "%s", fmt.Sprint(err))
	}
}
