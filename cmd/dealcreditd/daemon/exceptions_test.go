package daemon_test

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dealcredit/consumers/oemfeed"
	"dealcredit/domain"
	"dealcredit/internal/testkit/daemontest"
)

// newE2EWithPartner is newE2E with a partner token for partnerID beside
// the generated roles.
func newE2EWithPartner(t *testing.T, partnerID string) *e2e {
	dir := t.TempDir()
	toks := []daemontest.Token{
		{Token: "exc-admin-0123456789", Role: "admin"},
		{Token: "exc-cm-0123456789abc", Role: "channel_manager"},
		{Token: "exc-finance-01234567", Role: "finance"},
		{Token: "exc-auditor-01234567", Role: "auditor"},
		{Token: "exc-partner-01234567", Role: "partner", PartnerID: partnerID},
	}
	b, _ := json.Marshal(toks)
	if err := os.WriteFile(filepath.Join(dir, "tokens.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return e2eOn(t, daemontest.Start(t, map[string]string{"DEALCREDIT_DATA_DIR": dir}))
}

type excRow struct {
	ID            string   `json:"exception_id"`
	InvoiceNumber string   `json:"invoice_number"`
	Line          int      `json:"line"`
	Status        string   `json:"status"`
	ClaimedBy     string   `json:"claimed_by"`
	PartnerID     string   `json:"partner_id"`
	Reason        string   `json:"reason"`
	DecidedBy     string   `json:"decided_by"`
	Tried         []string `json:"tried"`
	Revision      int      `json:"revision"`
}

// exceptions lists the queue as role sees it with the query q.
func (e *e2e) exceptions(role, q string) ([]excRow, string) {
	e.t.Helper()
	var res struct {
		Data struct {
			Exceptions []excRow `json:"exceptions"`
			Next       string   `json:"next"`
		} `json:"data"`
	}
	if err := json.Unmarshal(e.call("GET", "/v1/exceptions?"+q, role, nil, 200), &res); err != nil {
		e.t.Fatal(err)
	}
	return res.Data.Exceptions, res.Data.Next
}

// exceptionOf waits until the line of invoice number has an exception with status.
func (e *e2e) exceptionOf(number, status string) excRow {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, _ := e.exceptions("finance", "oem_id=hp&limit=1000")
		for _, r := range rows {
			if r.InvoiceNumber == number && r.Status == status {
				return r
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no %s exception for %s: %+v", status, number, rows)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

// rebateBPS reads the rebate of tier from the policy in force.
func (e *e2e) rebateBPS(tier domain.Tier) int64 {
	e.t.Helper()
	var pol struct {
		InForce struct {
			RebateBPS map[string]int64 `json:"rebate_bps"`
		} `json:"in_force"`
	}
	if err := json.Unmarshal(e.call("GET", "/v1/policy", "finance", nil, 200), &pol); err != nil || pol.InForce.RebateBPS[string(tier)] == 0 {
		e.t.Fatalf("policy: %v %+v", err, pol)
	}
	return pol.InForce.RebateBPS[string(tier)]
}

// Issue 14 item 1, through the API and the feed: an unmatched line assigned
// by hand follows its invoice's revision and a partial credit memo like a
// matched line; an open exception is matched when a registration for its
// customer is approved; a dismissal books the line direct and reopen undoes
// it; a partner sees only its own customers' open lines and its own; bad
// input is a 4xx naming the field.
func TestExceptionQueueThroughAPI(t *testing.T) {
	e := newE2EWithPartner(t, "var-g")
	T := e.today
	e.call("POST", "/v1/partners", "channel_manager", map[string]any{"id": "hp", "name": "HP", "kind": "oem", "geography": "emea"}, 201)
	e.partner("var-g", domain.TierGold)
	hooli := oemfeed.Customer{OEMAccountID: "HP-1", Name: "Hooli SE", Country: "DE", Domain: "hooli.example"}
	deal := e.deal("var-g", hooli.Name, hooli.Domain)
	e.approve(deal)

	// The invoice names the customer by its holding: nothing matches.
	holding := oemfeed.Customer{OEMAccountID: "HP-2", Name: "Hooli Holding AG", Country: "CH"}
	e.publish(hp("HP-A", 1, T, holding, "USD", clientLine(100_000)))
	x := e.exceptionOf("HP-A", "open")
	if len(x.Tried) == 0 {
		t.Errorf("open exception lists nothing tried: %+v", x)
	}
	// var-g never registered the holding: it does not see the line.
	if rows, _ := e.exceptions("partner", "status=open"); len(rows) != 0 {
		t.Errorf("partner sees another customer's exceptions: %+v", rows)
	}

	// Bad input: 4xx naming the field, nothing appended.
	for _, c := range []struct {
		name, path string
		body       any
		status     int
		field      string
	}{
		{"NUL in reason", "/v1/exceptions/" + x.ID + "/assign", map[string]any{"deal_id": deal, "reason": "a\u0000b"}, 400, "reason"},
		{"blank reason", "/v1/exceptions/" + x.ID + "/dismiss", map[string]any{"reason": " "}, 400, "reason"},
		{"deal id too long", "/v1/exceptions/" + x.ID + "/assign", map[string]any{"deal_id": strings.Repeat("d", 65), "reason": "r"}, 400, "deal_id"},
		{"reason too long", "/v1/exceptions/" + x.ID + "/assign", map[string]any{"deal_id": deal, "reason": strings.Repeat("r", 1001)}, 400, "reason"},
		{"unknown deal", "/v1/exceptions/" + x.ID + "/assign", map[string]any{"deal_id": "nope", "reason": "r"}, 404, "deal_id"},
		{"deal_id on dismiss", "/v1/exceptions/" + x.ID + "/dismiss", map[string]any{"deal_id": deal, "reason": "r"}, 400, "deal_id"},
		{"unknown exception", "/v1/exceptions/x00000000000000000000000000000000/assign", map[string]any{"deal_id": deal, "reason": "r"}, 404, "id"},
		{"reopen undecided", "/v1/exceptions/" + x.ID + "/reopen", map[string]any{"reason": "r"}, 409, ""},
	} {
		b := e.call("POST", c.path, "finance", c.body, c.status)
		var p struct {
			Field string `json:"field"`
		}
		if err := json.Unmarshal(b, &p); err != nil || p.Field != c.field {
			t.Errorf("%s: problem %s, want field %q", c.name, b, c.field)
		}
	}
	for _, q := range []string{"limit=0", "limit=1001", "status=bogus", "quarter=%2B026Q1", "customer=" + url.QueryEscape("a\x00b")} {
		e.call("GET", "/v1/exceptions?"+q, "finance", nil, 400)
	}
	e.call("POST", "/v1/exceptions/"+x.ID+"/assign", "partner", map[string]any{"deal_id": deal, "reason": "mine"}, 403)

	// Assigned by hand, then revised to 200,000 and credited back 50,000.
	e.call("POST", "/v1/exceptions/"+x.ID+"/assign", "finance", map[string]any{"deal_id": deal, "reason": "the holding pays for Hooli SE"}, 200)
	e.publish(hp("HP-A", 2, T, holding, "USD", clientLine(200_000)))
	e.publish(memo("CM-A", "HP-A", T, holding, "USD", clientLine(50_000)))
	bps := e.rebateBPS(domain.TierGold)
	rebate := domain.ApplyBPS(200_000, bps)
	wantRebate := rebate - domain.MulDiv(rebate, 50_000, 200_000)
	rows := e.until("manual attribution", "HP-A", []domain.Date{T}, func(rs []row) bool {
		return figure(rs, "revenue", "var-g") == 150_000 && figure(rs, "rebate", "var-g") == wantRebate &&
			figure(rs, "unattributed", "") == 0
	})
	for _, r := range rows {
		if r.Kind == "revenue" && r.AmountMinor > 0 && !strings.Contains(r.Reason, "assigned by hand") {
			t.Errorf("revenue row does not say it was assigned by hand: %+v", r)
		}
	}
	x = e.exceptionOf("HP-A", "assigned")
	if x.ClaimedBy != deal || x.PartnerID != "var-g" || x.Reason != "the holding pays for Hooli SE" || x.DecidedBy == "" || x.Revision != 2 {
		t.Errorf("assigned exception: %+v", x)
	}
	// The partner now sees the line that went to it, without finance's reasoning.
	if rows, _ := e.exceptions("partner", "partner_id=var-g"); len(rows) != 1 || rows[0].ID != x.ID || rows[0].Reason != "" || len(rows[0].Tried) != 0 {
		t.Errorf("partner's view of its assigned line: %+v", rows)
	}
	e.call("POST", "/v1/exceptions/"+x.ID+"/assign", "finance", map[string]any{"deal_id": deal, "reason": "again"}, 409)

	// An open exception is matched when a registration for its customer is approved.
	umbrella := oemfeed.Customer{OEMAccountID: "HP-3", Name: "Umbrella GmbH", Country: "DE", Domain: "umbrella.example"}
	e.publish(hp("HP-B", 1, T, umbrella, "USD", clientLine(30_000)))
	xb := e.exceptionOf("HP-B", "open")
	d2 := e.deal("var-g", umbrella.Name, umbrella.Domain)
	// Registered (not yet approved): var-g now sees the open line of its customer.
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, _ := e.exceptions("partner", "status=open")
		if len(rows) == 1 && rows[0].ID == xb.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("partner does not see the open line of its registered customer: %+v", rows)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
	e.approve(d2)
	if m := e.exceptionOf("HP-B", "matched"); m.ClaimedBy != d2 || m.PartnerID != "var-g" {
		t.Errorf("re-matched exception: %+v", m)
	}
	e.until("re-match", "HP-B", []domain.Date{T}, func(rs []row) bool {
		return figure(rs, "revenue", "var-g") == 30_000 && figure(rs, "unattributed", "") == 0
	})

	// Dismissed as direct, then reopened.
	e.publish(hp("HP-C", 1, T, oemfeed.Customer{OEMAccountID: "HP-4", Name: "Initrode", Country: "US"}, "USD", clientLine(7_000)))
	xc := e.exceptionOf("HP-C", "open")
	e.call("POST", "/v1/exceptions/"+xc.ID+"/dismiss", "channel_manager", map[string]any{"reason": "bought direct"}, 200)
	e.until("dismissal", "HP-C", []domain.Date{T}, func(rs []row) bool {
		return figure(rs, "direct", "") == 7_000 && figure(rs, "unattributed", "") == 0
	})
	e.exceptionOf("HP-C", "dismissed")
	e.call("POST", "/v1/exceptions/"+xc.ID+"/reopen", "finance", map[string]any{"reason": "not direct after all"}, 200)
	e.until("reopen", "HP-C", []domain.Date{T}, func(rs []row) bool {
		return figure(rs, "direct", "") == 0 && figure(rs, "unattributed", "") == 7_000
	})
	e.exceptionOf("HP-C", "open")

	// Pagination: one row a page walks the whole queue once.
	all, _ := e.exceptions("finance", "limit=1000")
	var seen []string
	after := ""
	for i := 0; i <= len(all); i++ {
		page, next := e.exceptions("finance", "limit=1&after="+after)
		for _, r := range page {
			seen = append(seen, r.ID)
		}
		if next == "" {
			break
		}
		after = next
	}
	if len(seen) != len(all) || len(all) < 3 {
		t.Errorf("paged %d rows, listed %d", len(seen), len(all))
	}
	// A cursor that names no row is a 400 naming after, never an empty page; a
	// partner cannot page from a row it may not see.
	var p struct{ Field, Detail string }
	for _, c := range []struct{ role, after string }{{"finance", "x0000"}, {"partner", xc.ID}} { // Initrode: never var-g's
		b := e.call("GET", "/v1/exceptions?after="+c.after, c.role, nil, 400)
		if err := json.Unmarshal(b, &p); err != nil || p.Field != "after" || !strings.Contains(p.Detail, c.after) {
			t.Errorf("%s after=%s: %s", c.role, c.after, b)
		}
	}
}
