package daemon_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"dealcredit/consumers/oemfeed"
	"dealcredit/domain"
)

type stmtRow struct {
	Currency          string `json:"currency"`
	Rebates           int64  `json:"rebates_minor"`
	AdjustmentRebates int64  `json:"adjustment_rebates_minor"`
	Status            string `json:"status"`
	Accrued           int64  `json:"accrued_rebates_minor"`
	Approved          int64  `json:"approved_rebates_minor"`
	Paid              int64  `json:"paid_minor"`
	Outstanding       int64  `json:"outstanding_minor"`
}

// statementUntil polls var-g's statement of q until cond holds.
func (e *e2e) statementUntil(q domain.Quarter, what string, cond func(stmtRow) bool) stmtRow {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var res struct {
			Data []stmtRow `json:"data"`
		}
		b := e.call("GET", "/v1/partners/var-g/statements/"+q.String(), "finance", nil, 200)
		if err := json.Unmarshal(b, &res); err != nil {
			e.t.Fatal(err)
		}
		for _, s := range res.Data {
			if s.Currency == "USD" && cond(s) {
				return s
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: statement %s never matched: %s", what, q, b)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

// Issue 14 item 2, through the API and the feed: a statement approved, then
// a late credit memo (the approved figures stay, the clawback lands as an
// adjustment in the open quarter); payouts partial, never above approved;
// the payout file for accounts payable.
func TestRebateLifecycleThroughAPI(t *testing.T) {
	e := newE2EWithPartner(t, "var-g")
	T := e.today
	prev := T.Quarter().Prev()
	day := prev.End()
	e.call("POST", "/v1/partners", "channel_manager", map[string]any{"id": "hp", "name": "HP", "kind": "oem", "geography": "emea"}, 201)
	// Gold since before last quarter (its history), so last quarter's line earns the gold rebate.
	joined := prev.Start().AddDays(-30)
	e.partner("var-g", domain.TierGold, map[string]any{"joined_on": joined.String(),
		"tier_history": []map[string]any{{"tier": "gold", "from": joined.String()}}})
	deal := e.deal("var-g", "Hooli SE", "hooli.example")
	e.approve(deal)
	// Last quarter's line, credited to var-g by hand (the deal protects from today only).
	cust := oemfeed.Customer{OEMAccountID: "HP-1", Name: "Hooli SE", Country: "DE", Domain: "hooli.example"}
	e.publish(hp("HP-P", 1, day, cust, "USD", clientLine(100_000)))
	x := e.exceptionOf("HP-P", "open")
	e.call("POST", "/v1/exceptions/"+x.ID+"/assign", "finance", map[string]any{"deal_id": deal, "reason": "worked before approval"}, 200)
	rebate := domain.ApplyBPS(100_000, e.rebateBPS(domain.TierGold))
	e.statementUntil(prev, "credited", func(s stmtRow) bool { return s.Rebates == rebate && s.Status == "accrued" })

	// Refused before approval; the current quarter cannot be approved yet.
	e.call("POST", "/v1/partners/var-g/statements/"+prev.String()+"/payouts", "finance",
		map[string]any{"amount_minor": 1, "currency": "USD", "reference": "AP-0", "paid_on": T.String()}, 422)
	e.call("POST", "/v1/partners/var-g/statements/"+T.Quarter().String()+"/approve", "finance", nil, 422)
	e.call("POST", "/v1/partners/var-g/statements/"+prev.String()+"/approve", "channel_manager", nil, 403)

	e.call("POST", "/v1/partners/var-g/statements/"+prev.String()+"/approve", "finance", nil, 200)
	e.call("POST", "/v1/partners/var-g/statements/"+prev.String()+"/approve", "finance", nil, 409)
	e.statementUntil(prev, "approved", func(s stmtRow) bool {
		return s.Status == "approved" && s.Approved == rebate && s.Outstanding == rebate
	})

	// A late credit memo of 40,000 dated last quarter: the approved statement stays,
	// the clawback is an adjustment of the current quarter.
	e.publish(memo("CM-P", "HP-P", day, cust, "USD", clientLine(40_000)))
	claw := domain.MulDiv(rebate, 40_000, 100_000)
	e.statementUntil(T.Quarter(), "adjustment", func(s stmtRow) bool { return s.AdjustmentRebates == -claw })
	e.statementUntil(prev, "frozen", func(s stmtRow) bool {
		return s.Rebates == rebate && s.AdjustmentRebates == 0 && s.Approved == rebate
	})

	// Payouts: above approved refused naming the rule; partial ones add up to approved.
	pay := func(amount int64, ref string, status int) []byte {
		return e.call("POST", "/v1/partners/var-g/statements/"+prev.String()+"/payouts", "finance",
			map[string]any{"amount_minor": amount, "currency": "USD", "reference": ref, "paid_on": T.String()}, status)
	}
	if b := pay(rebate+1, "AP-1", 422); !strings.Contains(string(b), "payout.over_approved") {
		t.Errorf("over-approved payout: %s", b)
	}
	pay(rebate-100, "AP-2", 201)
	pay(101, "AP-3", 422)
	pay(100, "AP-4", 201)
	e.statementUntil(prev, "paid", func(s stmtRow) bool { return s.Paid == rebate && s.Outstanding == 0 })
	// Bad input: 400 naming the field.
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"amount_minor": 1, "currency": "USD", "reference": "A\u0000P", "paid_on": T.String()}, "reference"},
		{map[string]any{"amount_minor": int64(1) << 62, "currency": "USD", "reference": "AP", "paid_on": T.String()}, "amount_minor"},
		{map[string]any{"amount_minor": 0, "currency": "USD", "reference": "AP", "paid_on": T.String()}, "amount_minor"},
		{map[string]any{"amount_minor": 1, "currency": "XXY", "reference": "AP", "paid_on": T.String()}, "currency"},
		{map[string]any{"amount_minor": 1, "currency": "USD", "reference": "AP", "paid_on": "1899-01-01"}, "paid_on"},
		{map[string]any{"amount_minor": 1, "currency": "USD", "reference": "AP", "paid_on": T.AddDays(1).String()}, "paid_on"},
	} {
		b := e.call("POST", "/v1/partners/var-g/statements/"+prev.String()+"/payouts", "finance", c.body, 400)
		var p struct {
			Field string `json:"field"`
		}
		if err := json.Unmarshal(b, &p); err != nil || p.Field != c.field {
			t.Errorf("payout %v: problem %s, want field %s", c.body, b, c.field)
		}
	}
	csv := string(e.call("GET", "/v1/payouts?quarter="+prev.String(), "finance", nil, 200))
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if len(lines) != 3 || lines[0] != "position,partner_id,quarter,currency,amount_minor,reference,paid_on,recorded_by,event_id" ||
		!strings.Contains(lines[1], ",AP-2,") || !strings.Contains(lines[2], ",AP-4,") {
		t.Errorf("payout file:\n%s", csv)
	}
}
