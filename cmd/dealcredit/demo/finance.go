package demo

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"dealcredit/consumers/oemfeed"
	"dealcredit/domain"
)

// Finance is finance's week, as printed: an exception worked, a statement
// approved and paid, the payout file, the company-wide mix in the reporting
// currency. It runs on Quarter, the quarter before the story's closed one
// (ended, never closed by the demo), so that reruns against one daemon and
// the story's own quarters are not disturbed. Amounts of the statement are
// minor units of Currency; the consolidated figures of ReportingCurrency.
type Finance struct {
	Quarter   string
	PartnerID string // a Gold VAR since long before Quarter
	DealID    string // its approved registration for Initech

	// The Dell line invoiced to Initech's holding: open, then assigned by hand.
	ExceptionID     string
	ExceptionStatus string // after the assignment
	AssignReason    string

	Currency    string
	Revenue     int64 // credited to PartnerID by the assignment
	Accrued     int64 // its rebates (gold rate on the invoice date)
	Approved    int64
	Paid        int64
	Outstanding int64
	OverpayRule string // the rule that refused a payout above the approved rebates
	PayoutRows  int    // PartnerID's rows in the payout file of Quarter
	PayoutRow   string // the first of them, as exported

	ReportingCurrency string
	Rate              string // EUR -> ReportingCurrency on Quarter's last day
	Complete          bool
	Direct, Indirect  int64 // consolidated, in ReportingCurrency
	IndirectShareBPS  int64
}

// Finance's week amounts: a Dell EUR invoice (software 800.00, maintenance
// 200.00) and an HP USD invoice (OEM-kept services 620.00, maintenance
// 280.00). At 1.1 USD a EUR: direct 220.00 + 280.00 = 500.00 USD, indirect
// 880.00 + 620.00 = 1,500.00 USD: 75.00% indirect company-wide.
const (
	finCurrency      = "EUR"
	finSoftware      = 80000
	finMaintenance   = 20000
	finUSDServices   = 62000
	finUSDMaint      = 28000
	finRate          = "1.1"
	finFirstPayout   = 3000
	finRefusedPayout = 2000
)

// financeWeek plays finance's week (issue 14): the exception queue, the
// rebate lifecycle, one reporting currency.
func (s *story) financeWeek(ctx context.Context) error {
	q := s.closed.Prev()
	f := &s.sum.Finance
	f.Quarter, f.PartnerID, f.Currency = q.String(), "var-fin-"+s.opt.RunID, finCurrency
	s.header(fmt.Sprintf("Finance's week: %s's exception queue, a statement approved and paid, one reporting currency", q))
	if err := s.finSetup(ctx, q); err != nil {
		return err
	}
	steps := []func(context.Context, domain.Quarter) error{s.finException, s.finStatement, s.finPayouts, s.finReporting}
	for _, st := range steps {
		if err := st(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// finSetup enrols a VAR that has been Gold since long before q, registers
// and approves its Initech deal, and publishes q's invoices: Dell's (EUR) to
// Initech's holding, which no registration matches, and HP's (USD).
func (s *story) finSetup(ctx context.Context, q domain.Quarter) error {
	f, run := &s.sum.Finance, s.opt.RunID
	joined := q.Start().AddDays(-365).String()
	if _, err := s.c.expect(ctx, http.MethodPost, "/v1/partners:grandfather", "admin", map[string]any{"partners": []map[string]any{{
		"id": f.PartnerID, "name": "Rhein Systems " + run, "kind": "var", "geography": "emea",
		"joined_on": joined, "tier_history": []map[string]string{{"tier": "gold", "from": joined}},
	}}}, nil, http.StatusCreated); err != nil {
		return err
	}
	var created struct {
		DealID string `json:"deal_id"`
	}
	if _, err := s.c.expect(ctx, http.MethodPost, "/v1/deals", "channel_manager", map[string]any{
		"partner_id": f.PartnerID, "geography": "emea", "segments": []string{"asset_management"}, "oem_id": "dell",
		"customer":             map[string]string{"name": "Initech " + run + " GmbH", "country": "DE", "domain": "initech-" + run + ".example"},
		"expected_value_minor": 100000, "currency": finCurrency,
	}, &created, http.StatusCreated); err != nil {
		return err
	}
	f.DealID = created.DealID
	if _, err := s.c.expect(ctx, http.MethodPost, "/v1/deals/"+f.DealID+"/approve", "channel_manager", nil, nil, http.StatusOK); err != nil {
		return err
	}
	s.printf("   %s (Gold since %s) holds approved deal %s for Initech %s GmbH\n", f.PartnerID, joined, f.DealID, run)
	day := q.End().AddDays(-14).String()
	holding := oemfeed.Customer{OEMAccountID: "DL-IH-" + run, Name: "Initech " + run + " Holding AG", Country: "DE", Domain: "initech-holding-" + run + ".example"}
	for _, m := range []oemfeed.Message{
		{OEMID: "dell", InvoiceNumber: "DELL-" + run + "-F001", Revision: 1, Kind: oemfeed.KindInvoice, InvoiceDate: day, Currency: finCurrency, Customer: holding,
			Lines: []oemfeed.Line{
				{Line: 1, SKU: "ALT-AMS-20", Segment: "asset_management", Quantity: 20, UnitPriceMinor: finSoftware / 20, AmountMinor: finSoftware},
				{Line: 2, SKU: "ALT-MNT-1Y", Segment: "maintenance", Quantity: 1, UnitPriceMinor: finMaintenance, AmountMinor: finMaintenance},
			}},
		{OEMID: "hp", InvoiceNumber: "HP-" + run + "-F001", Revision: 1, Kind: oemfeed.KindInvoice, InvoiceDate: day, Currency: currency, Customer: holding,
			Lines: []oemfeed.Line{
				{Line: 1, SKU: "ALT-SVC-DEPLOY", Segment: "services", Quantity: 1, UnitPriceMinor: finUSDServices, AmountMinor: finUSDServices},
				{Line: 2, SKU: "ALT-MNT-1Y", Segment: "maintenance", Quantity: 1, UnitPriceMinor: finUSDMaint, AmountMinor: finUSDMaint},
			}},
	} {
		if err := s.publish(ctx, m); err != nil {
			return err
		}
		if _, err := s.waitIngested(ctx, m.OEMID, m.InvoiceNumber); err != nil {
			return err
		}
		s.printf("   %s %s: %s to %s, dated %s\n", m.OEMID, m.InvoiceNumber, domain.Money{Amount: m.TotalMinor(), Currency: m.Currency}.Major(), holding.Name, day)
	}
	return nil
}

// finException finds the Dell line in the queue and assigns it to the deal.
func (s *story) finException(ctx context.Context, q domain.Quarter) error {
	f := &s.sum.Finance
	var page struct {
		Exceptions []struct {
			ID            string   `json:"exception_id"`
			InvoiceNumber string   `json:"invoice_number"`
			Line          int      `json:"line"`
			AmountMinor   int64    `json:"amount_minor"`
			Currency      string   `json:"currency"`
			Status        string   `json:"status"`
			PartnerID     string   `json:"partner_id"`
			Tried         []string `json:"tried"`
		} `json:"exceptions"`
	}
	list := "/v1/exceptions?quarter=" + q.String() + "&customer=" + url.QueryEscape("Initech "+s.opt.RunID+" Holding")
	if _, err := s.c.query(ctx, list+"&status=open", "finance", &page); err != nil {
		return err
	}
	if len(page.Exceptions) != 1 {
		return fmt.Errorf("demo: %d open exceptions for Initech's holding in %s, want the Dell line", len(page.Exceptions), q)
	}
	x := page.Exceptions[0]
	f.ExceptionID = x.ID
	s.printf("   queue: %s line %d %s open (tried: %s)\n", x.InvoiceNumber, x.Line, domain.Money{Amount: x.AmountMinor, Currency: x.Currency}.Major(), strings.Join(x.Tried, "; "))
	f.AssignReason = "Initech's holding company bought it through Dell; " + f.PartnerID + "'s deal covers it"
	var res commandResult
	if _, err := s.c.expect(ctx, http.MethodPost, "/v1/exceptions/"+x.ID+"/assign", "finance",
		map[string]string{"deal_id": f.DealID, "reason": f.AssignReason}, &res, http.StatusOK); err != nil {
		return err
	}
	s.printf("   finance assigns %s to deal %s (reason: %s)\n", x.ID, f.DealID, f.AssignReason)
	if _, err := s.c.query(ctx, list, "finance", &page); err != nil {
		return err
	}
	for _, e := range page.Exceptions {
		if e.ID == x.ID {
			f.ExceptionStatus = e.Status
			s.printf("   the line is now %s to %s\n", e.Status, e.PartnerID)
		}
	}
	return nil
}

// statementRow is a statement row's rebate lifecycle figures.
type statementRow struct {
	Currency    string `json:"currency"`
	Status      string `json:"status"`
	Revenue     int64  `json:"credited_revenue_minor"`
	Accrued     int64  `json:"accrued_rebates_minor"`
	Approved    int64  `json:"approved_rebates_minor"`
	Paid        int64  `json:"paid_minor"`
	Outstanding int64  `json:"outstanding_minor"`
}

// finStatementRow reads the partner's EUR statement row of q.
func (s *story) finStatementRow(ctx context.Context, q domain.Quarter) (statementRow, error) {
	var rows []statementRow
	if _, err := s.c.query(ctx, "/v1/partners/"+s.sum.Finance.PartnerID+"/statements/"+q.String(), "finance", &rows); err != nil {
		return statementRow{}, err
	}
	for _, r := range rows {
		if r.Currency == finCurrency {
			s.printf("   statement %s %s %s: %s; revenue %s, accrued %s, approved %s, paid %s, outstanding %s\n", s.sum.Finance.PartnerID, q,
				r.Currency, r.Status, finMoney(r.Revenue), finMoney(r.Accrued), finMoney(r.Approved), finMoney(r.Paid), finMoney(r.Outstanding))
			return r, nil
		}
	}
	return statementRow{}, fmt.Errorf("demo: the %s statement of %s has no %s row: %+v", q, s.sum.Finance.PartnerID, finCurrency, rows)
}

func finMoney(minor int64) string { return domain.Money{Amount: minor, Currency: finCurrency}.Major() }

// finStatement approves the partner's statement of q.
func (s *story) finStatement(ctx context.Context, q domain.Quarter) error {
	f := &s.sum.Finance
	r, err := s.finStatementRow(ctx, q)
	if err != nil {
		return err
	}
	f.Revenue, f.Accrued = r.Revenue, r.Accrued
	if _, err := s.c.expect(ctx, http.MethodPost, "/v1/partners/"+f.PartnerID+"/statements/"+q.String()+"/approve", "finance", nil, nil, http.StatusOK); err != nil {
		return err
	}
	s.printf("   finance approves it: the figures freeze; later changes land in the next open quarter\n")
	r, err = s.finStatementRow(ctx, q)
	f.Approved = r.Approved
	return err
}

// finPayouts records a partial payout, shows one above the approved rebates
// refused, and exports the payout file.
func (s *story) finPayouts(ctx context.Context, q domain.Quarter) error {
	f := &s.sum.Finance
	path := "/v1/partners/" + f.PartnerID + "/statements/" + q.String() + "/payouts"
	ref := "AP-" + s.opt.RunID + "-1"
	r, err := s.c.do(ctx, http.MethodPost, path, "finance", map[string]any{"amount_minor": finFirstPayout, "currency": finCurrency,
		"reference": ref, "paid_on": s.today.String()}, "Idempotency-Key", "demo-"+s.opt.RunID+"-payout-1")
	if err != nil {
		return err
	}
	if r.Status != http.StatusCreated {
		return fmt.Errorf("demo: payout: %d %s", r.Status, r.Body)
	}
	s.printf("   accounts payable pays %s (reference %s)\n", finMoney(finFirstPayout), ref)
	p, err := s.c.refused(ctx, http.MethodPost, path, "finance", map[string]any{"amount_minor": finRefusedPayout, "currency": finCurrency,
		"reference": "AP-" + s.opt.RunID + "-2", "paid_on": s.today.String()}, http.StatusUnprocessableEntity)
	if err != nil {
		return err
	}
	f.OverpayRule = p.Rule
	s.printf("   a second payout of %s is refused (%d, rule %s): %s\n", finMoney(finRefusedPayout), p.Status, p.Rule, p.Detail)
	st, err := s.finStatementRow(ctx, q)
	if err != nil {
		return err
	}
	f.Paid, f.Outstanding = st.Paid, st.Outstanding
	return s.finExport(ctx, q)
}

// finExport reads the payout file of q and keeps the partner's rows.
func (s *story) finExport(ctx context.Context, q domain.Quarter) error {
	f := &s.sum.Finance
	r, err := s.c.do(ctx, http.MethodGet, "/v1/payouts?quarter="+q.String()+"&min_position="+strconv.FormatInt(s.c.position(), 10), "finance", nil,
		"Accept", "text/csv")
	if err != nil {
		return err
	}
	if r.Status != http.StatusOK {
		return fmt.Errorf("demo: payout file: %d %s", r.Status, r.Body)
	}
	rows, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	if err != nil || len(rows) == 0 {
		return fmt.Errorf("demo: payout file is not CSV: %v %.200s", err, r.Body)
	}
	s.printf("   payout file for accounts payable (GET /v1/payouts?quarter=%s, text/csv):\n      %s\n", q, strings.Join(rows[0], ","))
	for _, row := range rows[1:] {
		if len(row) > 1 && row[1] == f.PartnerID {
			if f.PayoutRows == 0 {
				f.PayoutRow = strings.Join(row, ",")
			}
			f.PayoutRows++
			s.printf("      %s\n", strings.Join(row, ","))
		}
	}
	return nil
}

// finReporting records the EUR rate of q's last day and reads q's mix in
// the reporting currency.
func (s *story) finReporting(ctx context.Context, q domain.Quarter) error {
	f := &s.sum.Finance
	if _, err := s.c.expect(ctx, http.MethodPost, "/v1/fx-rates", "finance", map[string]string{"from": finCurrency, "to": currency, "rate": finRate,
		"period": "day", "effective_on": q.End().String(), "source": "ECB reference rate"}, nil, http.StatusOK); err != nil {
		return err
	}
	s.printf("   rate recorded: 1 %s = %s %s on %s (ECB reference rate)\n", finCurrency, finRate, currency, q.End())
	var m domain.ReportedMix
	if _, err := s.c.query(ctx, "/v1/revenue-mix/reporting?quarter="+q.String(), "finance", &m); err != nil {
		return err
	}
	f.ReportingCurrency, f.Complete = m.ReportingCurrency, m.Complete
	to := func(v *int64) string {
		if v == nil {
			return "-"
		}
		return domain.Money{Amount: *v, Currency: m.ReportingCurrency}.Major()
	}
	for _, r := range m.Rows {
		used := "reporting currency"
		switch {
		case r.Rate != nil:
			used = fmt.Sprintf("at %s (%s %s, %s)", r.Rate.Rate, r.Rate.Period, r.Rate.EffectiveOn, r.Rate.Source)
			if r.Currency == finCurrency {
				f.Rate = r.Rate.Rate
			}
		case r.Missing != nil:
			used = fmt.Sprintf("MISSING %s/%s on %s", r.Missing.From, r.Missing.To, r.Missing.On)
		}
		s.printf("   %s: direct %s, indirect %s, %s\n", r.Currency, to(r.DirectMinor), to(r.IndirectMinor), used)
	}
	if !m.Complete || m.DirectMinor == nil || m.IndirectMinor == nil || m.IndirectShareBPS == nil {
		return fmt.Errorf("demo: %s mix in %s is incomplete: missing %+v", q, m.ReportingCurrency, m.Missing)
	}
	f.Direct, f.Indirect, f.IndirectShareBPS = *m.DirectMinor, *m.IndirectMinor, *m.IndirectShareBPS
	s.printf("   %s company-wide in %s: direct %s, indirect %s: indirect share %s\n", q, m.ReportingCurrency, to(m.DirectMinor), to(m.IndirectMinor),
		formatBPS(f.IndirectShareBPS))
	cli := s.opt.Command
	s.printf("   the same week with the CLI: %s exceptions list --quarter %s; %s statements show %s %s; %s payouts export --quarter %s; %s fx-rates report --quarter %s\n",
		cli, q, cli, f.PartnerID, q, cli, q, cli, q)
	return nil
}
