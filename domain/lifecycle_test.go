package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"dealcredit/domain"
)

// errorIs checks a decider's answer against a wanted code, field and rule ("" code: the
// events' types).
func errorIs(t *testing.T, name string, evs []domain.Event, err error, code domain.Code, field, rule string, then []string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []string
		for _, e := range evs {
			got = append(got, e.EventType())
		}
		if strings.Join(got, " ") != strings.Join(then, " ") {
			t.Fatalf("%s: events %v, want %v", name, got, then)
		}
		return
	}
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != code || de.Field != field || de.Rule != rule || len(evs) != 0 {
		t.Fatalf("%s: %v (%+v) with %d events, want %s field %q rule %q", name, err, de, len(evs), code, field, rule)
	}
}

func TestExceptionCommands(t *testing.T) {
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	ln := domain.ExceptionLine{OEMID: "hp", InvoiceNumber: "INV/1", Line: 1, Segment: domain.SegmentClientManagement}
	deal := domain.DealState{DealRegistered: domain.DealRegistered{DealID: "d-1", PartnerID: "var-1",
		Segments: []domain.Segment{domain.SegmentClientManagement}}, Status: domain.StatusApproved, ApprovedOn: domain.MustDate("2026-10-01")}
	pending := deal
	pending.ApprovedOn = domain.Date{}
	memoLine, svcLine := ln, ln
	memoLine.CreditMemo, svcLine.Segment = true, domain.SegmentServices
	assigned := domain.ExceptionState{Decision: domain.ManualAssigned, DealID: "d-1"}
	tests := []struct {
		name  string
		state domain.ExceptionState
		deal  domain.DealState
		cmd   any
		then  []string
		code  domain.Code
		field string
		rule  string
	}{
		{name: "assign", deal: deal, cmd: domain.AssignException{Line: ln, DealID: "d-1", Reason: "holding", By: "finance:f"}, then: []string{"exception.assigned"}},
		{name: "assign unknown deal", cmd: domain.AssignException{Line: ln, DealID: "d-9", Reason: "r"}, code: domain.NotFound, field: "deal_id"},
		{name: "assign never approved", deal: pending, cmd: domain.AssignException{Line: ln, DealID: "d-1", Reason: "r"}, code: domain.Unprocessable, field: "deal_id", rule: "exception.deal_approved"},
		{name: "assign other segment", deal: deal, cmd: domain.AssignException{Line: domain.ExceptionLine{OEMID: "hp", InvoiceNumber: "I", Line: 2, Segment: domain.SegmentAssetManagement}, DealID: "d-1", Reason: "r"}, code: domain.Unprocessable, field: "deal_id", rule: "exception.deal_segment"},
		{name: "assign again", state: assigned, deal: deal, cmd: domain.AssignException{Line: ln, DealID: "d-1", Reason: "r"}, code: domain.Conflict, field: "deal_id", rule: "exception.unchanged"},
		{name: "assign memo line", deal: deal, cmd: domain.AssignException{Line: memoLine, DealID: "d-1", Reason: "r"}, code: domain.Unprocessable, rule: "exception.software_line"},
		{name: "dismiss services line", cmd: domain.DismissException{Line: svcLine, Reason: "r"}, code: domain.Unprocessable, rule: "exception.software_line"},
		{name: "assign NUL reason", deal: deal, cmd: domain.AssignException{Line: ln, DealID: "d-1", Reason: "a\x00b"}, code: domain.Invalid, field: "reason"},
		{name: "assign long deal id", deal: deal, cmd: domain.AssignException{Line: ln, DealID: strings.Repeat("d", 65), Reason: "r"}, code: domain.Invalid, field: "deal_id"},
		{name: "dismiss", state: assigned, cmd: domain.DismissException{Line: ln, Reason: "direct"}, then: []string{"exception.dismissed"}},
		{name: "dismiss twice", state: domain.ExceptionState{Decision: domain.ManualDismissed}, cmd: domain.DismissException{Line: ln, Reason: "r"}, code: domain.Conflict, rule: "exception.unchanged"},
		{name: "reopen", state: assigned, cmd: domain.ReopenException{Line: ln, Reason: "wrong deal"}, then: []string{"exception.reopened"}},
		{name: "reopen undecided", cmd: domain.ReopenException{Line: ln, Reason: "r"}, code: domain.Conflict, rule: "exception.not_decided"},
		{name: "reopen blank reason", state: assigned, cmd: domain.ReopenException{Line: ln, Reason: "  "}, code: domain.Invalid, field: "reason"},
	}
	for _, tc := range tests {
		evs, err := domain.DecideException(tc.state, tc.deal, tc.cmd, now)
		errorIs(t, tc.name, evs, err, tc.code, tc.field, tc.rule, tc.then)
		for _, e := range evs {
			if got, want := domain.StreamOf(e), "exception-"+domain.ExceptionID("hp", "INV/1", 1); got != want {
				t.Errorf("%s: stream %s, want %s", tc.name, got, want)
			}
		}
	}
}

func TestStatementCommands(t *testing.T) {
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	q3, q4 := domain.MustQuarter("2026Q3"), domain.MustQuarter("2026Q4")
	partner := domain.EvolvePartner(domain.PartnerState{}, domain.PartnerEnrolled{PartnerID: "var-1", Name: "V", Kind: domain.KindVAR,
		Geography: "emea", Tier: domain.TierGold, EnrolledOn: domain.MustDate("2026-01-01")})
	approvedState := domain.EvolveStatement(domain.StatementState{}, domain.StatementApproved{PartnerID: "var-1", Quarter: q3})
	paid := domain.EvolveStatement(approvedState, domain.PayoutRecorded{PartnerID: "var-1", Quarter: q3, Amount: domain.Money{Amount: 900, Currency: "USD"}})
	approve := []struct {
		name  string
		state domain.StatementState
		cmd   domain.ApproveStatement
		code  domain.Code
		rule  string
	}{
		{"approve ended quarter", domain.StatementState{}, domain.ApproveStatement{PartnerID: "var-1", Quarter: q3}, "", ""},
		{"approve twice", approvedState, domain.ApproveStatement{PartnerID: "var-1", Quarter: q3}, domain.Conflict, "statement.approved_once"},
		{"approve running quarter", domain.StatementState{}, domain.ApproveStatement{PartnerID: "var-1", Quarter: q4}, domain.Unprocessable, "statement.quarter_ended"},
	}
	for _, tc := range approve {
		evs, err := domain.DecideApproveStatement(tc.state, partner, tc.cmd, now)
		field := ""
		if tc.code != "" {
			field = "quarter"
		}
		errorIs(t, tc.name, evs, err, tc.code, field, tc.rule, []string{"statement.approved"})
	}
	if _, err := domain.DecideApproveStatement(domain.StatementState{}, domain.PartnerState{}, domain.ApproveStatement{PartnerID: "nobody", Quarter: q3}, now); domain.ErrorCode(err) != domain.NotFound {
		t.Errorf("approve for an unknown partner: %v", err)
	}
	approved := map[string]int64{"USD": 1000, "EUR": 50}
	pay := func(amount int64, cur, ref, on string) domain.RecordPayout {
		d := domain.Date{}
		if on != "" {
			d = domain.MustDate(on)
		}
		return domain.RecordPayout{PartnerID: "var-1", Quarter: q3, Amount: domain.Money{Amount: amount, Currency: cur}, Reference: ref, PaidOn: d}
	}
	payouts := []struct {
		name  string
		state domain.StatementState
		cmd   domain.RecordPayout
		code  domain.Code
		field string
		rule  string
	}{
		{"partial", approvedState, pay(400, "USD", "AP-1", "2026-11-01"), "", "", ""},
		{"the rest", paid, pay(100, "USD", "AP-2", "2026-11-02"), "", "", ""},
		{"one minor unit over", paid, pay(101, "USD", "AP-2", "2026-11-02"), domain.Unprocessable, "amount_minor", "payout.over_approved"},
		{"other currency apart", paid, pay(50, "EUR", "AP-3", "2026-11-02"), "", "", ""},
		{"currency never approved", paid, pay(1, "JPY", "AP-3", "2026-11-02"), domain.Unprocessable, "amount_minor", "payout.over_approved"},
		{"not approved", domain.StatementState{}, pay(1, "USD", "AP-1", "2026-11-01"), domain.Unprocessable, "quarter", "payout.approved_statement"},
		{"zero", approvedState, pay(0, "USD", "AP-1", "2026-11-01"), domain.Invalid, "amount_minor", ""},
		{"overflow", approvedState, pay(1<<62, "USD", "AP-1", "2026-11-01"), domain.Invalid, "amount_minor", ""},
		{"bad currency", approvedState, pay(1, "usd", "AP-1", "2026-11-01"), domain.Invalid, "currency", ""},
		{"NUL reference", approvedState, pay(1, "USD", "AP\x001", "2026-11-01"), domain.Invalid, "reference", ""},
		{"no date", approvedState, pay(1, "USD", "AP-1", ""), domain.Invalid, "paid_on", ""},
		{"future date", approvedState, pay(1, "USD", "AP-1", "2026-11-03"), domain.Invalid, "paid_on", ""},
		{"absurd date", approvedState, pay(1, "USD", "AP-1", "2101-01-01"), domain.Invalid, "paid_on", ""},
	}
	for _, tc := range payouts {
		evs, err := domain.DecidePayout(tc.state, approved, tc.cmd, now)
		errorIs(t, tc.name, evs, err, tc.code, tc.field, tc.rule, []string{"statement.payout_recorded"})
	}
}

// With a partner's statement approved anywhere in the log: nothing of that partner's
// statement (revenue, rebate, service) is booked into the approved quarter after the
// approval, whatever the arrival order, and the totals over all quarters are the same as
// in the causal order (the later changes land as adjustments of a later quarter).
func TestPropertyApprovedStatementFreezes(t *testing.T) {
	const seeds, orders = 10, 6
	q3 := domain.MustQuarter("2026Q3")
	moved := 0
	for seed := int64(1); seed <= seeds; seed++ {
		fs := append(factSet(seed), fact{ev: domain.StatementApproved{PartnerID: "var-1", Quarter: q3, ApprovedOn: domain.MustDate("2026-10-05")},
			id: "approve", chains: []string{domain.StatementStream("var-1", q3)}})
		_, cs0 := foldAll(t, arrival(fs, 0))
		want := totals(cs0)
		for o := int64(1); o <= orders; o++ {
			p := domain.NewProgram()
			var cs []domain.Credit
			approvedYet := false
			for _, env := range arrival(fs, seed*1000+o) {
				out, err := p.Apply(env)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range out.Credits {
					statement := c.Kind == domain.CreditRevenue || c.Kind == domain.CreditRebate || c.Kind == domain.CreditService
					if approvedYet && statement && c.PartnerID == "var-1" {
						if c.Quarter == q3 {
							t.Fatalf("seed %d order %d: %s after the approval books into var-1's %s: %+v", seed, o, env.Type, q3, c)
						}
						if c.AdjustsQuarter == q3 {
							moved++
						}
					}
				}
				cs = append(cs, out.Credits...)
				approvedYet = approvedYet || env.EventID == "approve"
			}
			if got := totals(cs); got != want {
				t.Fatalf("seed %d order %d: totals over all quarters differ:\n%s", seed, o, firstDiff(want, got))
			}
		}
	}
	if moved == 0 {
		t.Error("no credit of var-1 for 2026Q3 arrived after the approval: the property tests nothing")
	}
}
