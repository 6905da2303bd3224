package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/consumers/ingest"
	"dealcredit/consumers/oemfeed"
	"dealcredit/domain"
	"dealcredit/internal/testkit/daemontest"
	"dealcredit/internal/testkit/openapicheck"
)

// e2e drives a real daemon through its HTTP API and the OEM feed only, as a new user
// would (issue 13's "Why").
type e2e struct {
	t     *testing.T
	d     *daemontest.Daemon
	js    jetstream.JetStream
	today domain.Date
}

func newE2E(t *testing.T) *e2e { return e2eOn(t, daemontest.Start(t, nil)) }

// e2eOn connects an e2e to a started daemon's JetStream.
func e2eOn(t *testing.T, d *daemontest.Daemon) *e2e {
	nc, err := nats.Connect(d.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &e2e{t: t, d: d, js: js, today: domain.DateOf(time.Now())}
}

// call sends a request as role and returns the status and body; a status not in want fails.
func (e *e2e) call(method, path, role string, body any, want ...int) []byte {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.d.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+e.d.Token(e.t, role))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	openapicheck.Body(e.t, method, path, resp.StatusCode, resp.Header, out)
	for _, w := range want {
		if resp.StatusCode == w {
			return out
		}
	}
	e.t.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, out)
	return nil
}

// partner enrolls a VAR in emea at tier (gold or platinum, with its requirements met);
// enrol adds fields to the enrolment body (joined_on, tier_history).
func (e *e2e) partner(id string, tier domain.Tier, enrol ...map[string]any) {
	e.t.Helper()
	body := map[string]any{"id": id, "name": id, "kind": "var", "geography": "emea"}
	for _, m := range enrol {
		maps.Copy(body, m)
	}
	e.call("POST", "/v1/partners", "channel_manager", body, 201)
	engineers, segs, target := 1, []string{"client_management"}, 6_000_000
	if tier == domain.TierPlatinum {
		engineers, segs, target = 2, []string{"client_management", "server_management", "asset_management"}, 30_000_000
	}
	for i := 0; i < engineers; i++ {
		e.call("POST", "/v1/partners/"+id+"/certifications", "channel_manager", map[string]any{"engineer": fmt.Sprintf("%s-eng-%d", id, i),
			"segment": "client_management", "certified_on": e.today.String()}, 201)
	}
	e.call("POST", "/v1/partners/"+id+"/commitments", "channel_manager", map[string]any{"segments": segs, "quarterly_target_minor": target, "currency": "USD"}, 201)
	e.call("POST", "/v1/partners/"+id+"/tier", "channel_manager", map[string]any{"tier": string(tier), "reason": "requirements met"}, 200)
}

// deal registers a client-management deal of partner for a customer and returns its id.
func (e *e2e) deal(partner, name, dom string) string {
	e.t.Helper()
	var r struct {
		DealID string `json:"deal_id"`
	}
	b := e.call("POST", "/v1/deals", "channel_manager", map[string]any{"partner_id": partner, "geography": "emea",
		"customer": map[string]any{"name": name, "country": "DE", "domain": dom}, "segments": []string{"client_management"},
		"expected_value_minor": 1_000_000, "currency": "USD"}, 201)
	if err := json.Unmarshal(b, &r); err != nil || r.DealID == "" {
		e.t.Fatalf("register: %s", b)
	}
	return r.DealID
}

func (e *e2e) engage(dealID string, on domain.Date) {
	e.t.Helper()
	e.call("POST", "/v1/deals/"+dealID+"/engagements", "channel_manager", map[string]any{"step": "presales_support", "occurred_on": on.String(), "oem_id": "hp"}, 201)
}

func (e *e2e) approve(dealID string) {
	e.t.Helper()
	e.call("POST", "/v1/deals/"+dealID+"/approve", "channel_manager", nil, 200)
}

// publish sends an HP document on the feed.
func (e *e2e) publish(m oemfeed.Message) {
	e.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := e.js.Stream(ctx, ingest.StreamName(m.OEMID))
		if err == nil {
			break
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) || time.Now().After(deadline) {
			e.t.Fatalf("stream of %s: %v", m.OEMID, err)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
	m.Schema = oemfeed.SchemaV1
	body, _ := json.Marshal(m)
	msg := &nats.Msg{Subject: oemfeed.Subject(m.OEMID), Data: body, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, oemfeed.MsgID(m.OEMID, m.InvoiceNumber, m.Revision))
	if _, err := e.js.PublishMsg(ctx, msg); err != nil {
		e.t.Fatal(err)
	}
}

func hp(number string, rev int, day domain.Date, c oemfeed.Customer, currency string, lines ...oemfeed.Line) oemfeed.Message {
	return oemfeed.Message{OEMID: "hp", InvoiceNumber: number, Revision: rev, Kind: oemfeed.KindInvoice, InvoiceDate: day.String(),
		Currency: currency, Customer: c, Lines: lines}
}

func memo(number, forInvoice string, day domain.Date, c oemfeed.Customer, currency string, lines ...oemfeed.Line) oemfeed.Message {
	m := hp(number, 1, day, c, currency, lines...)
	m.Kind, m.CreditMemoFor = oemfeed.KindCreditMemo, forInvoice
	return m
}

func clientLine(amount int64) oemfeed.Line {
	return oemfeed.Line{Line: 1, SKU: "ALT-CMS-100", Segment: "client_management", Quantity: 1, UnitPriceMinor: amount, AmountMinor: amount}
}

type row struct {
	InvoiceNumber  string `json:"invoice_number"`
	Kind           string `json:"kind"`
	PartnerID      string `json:"partner_id"`
	RegistrationID string `json:"registration_id"`
	AmountMinor    int64  `json:"amount_minor"`
	Currency       string `json:"currency"`
	Reason         string `json:"reason"`
}

// ledger returns the ledger rows of invoice number over the quarters of days.
func (e *e2e) ledger(number string, days ...domain.Date) []row {
	e.t.Helper()
	seen := map[domain.Quarter]bool{}
	var out []row
	for _, d := range days {
		q := d.Quarter()
		if seen[q] {
			continue
		}
		seen[q] = true
		var res struct {
			Data []row `json:"data"`
		}
		if err := json.Unmarshal(e.call("GET", "/v1/attribution?quarter="+q.String(), "finance", nil, 200), &res); err != nil {
			e.t.Fatal(err)
		}
		for _, r := range res.Data {
			if r.InvoiceNumber == number {
				out = append(out, r)
			}
		}
	}
	return out
}

// figure nets the rows of kind (and partner, when not "").
func figure(rows []row, kind, partner string) int64 {
	var t int64
	for _, r := range rows {
		if r.Kind == kind && (partner == "" || r.PartnerID == partner) {
			t += r.AmountMinor
		}
	}
	return t
}

// until polls the ledger of number until cond holds (30 s at most) and returns its rows.
func (e *e2e) until(what, number string, days []domain.Date, cond func([]row) bool) []row {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows := e.ledger(number, days...)
		if cond(rows) {
			return rows
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: %s never reached the expected figures; its ledger:\n%s", what, number, dump(rows))
		}
		time.Sleep(100 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

func dump(rows []row) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-12s %-8s %-10s %12d %s  %s\n", r.Kind, r.PartnerID, r.RegistrationID, r.AmountMinor, r.Currency, r.Reason)
	}
	return b.String()
}

// TestIssue13BusinessTimeThroughAPIAndFeed: each scenario of issue 13's "Why", through the
// HTTP API and the feed only, today being the real date (T). Figures by hand in minor
// units; the default policy: Gold 500 bps, Platinum 800 bps, claim grace 30 days.
func TestIssue13BusinessTimeThroughAPIAndFeed(t *testing.T) {
	e := newE2E(t)
	T := e.today
	// Enrolling the OEM makes the daemon consume its feed.
	e.call("POST", "/v1/partners", "channel_manager", map[string]any{"id": "hp", "name": "HP", "kind": "oem", "geography": "emea"}, 201)
	e.partner("var-a", domain.TierGold)
	e.partner("var-b", domain.TierGold)
	e.call("POST", "/v1/partners:grandfather", "admin", map[string]any{"partners": []map[string]string{
		{"id": "var-g", "name": "Grandfathered", "kind": "var", "geography": "emea"}}}, 201)

	// 1. An invoice dated T-5 arrives after the deal was approved on T, with an engagement
	// logged for T-6: a late claim (rule 13). The partner is the grandfathered Gold one
	// (Gold before it was enrolled in the system; var-a and var-b were registered on T-5):
	// 10,000,000 x 5% = 500,000. Before: unattributed 10,000,000, "no registration matched;
	// exception open".
	initech := oemfeed.Customer{OEMAccountID: "HP-1", Name: "Initech GmbH", Country: "DE", Domain: "initech.example"}
	d1 := e.deal("var-g", initech.Name, initech.Domain)
	e.engage(d1, T.AddDays(-6))
	e.approve(d1)
	e.publish(hp("HP-1", 1, T.AddDays(-5), initech, "USD", clientLine(10_000_000)))
	days1 := []domain.Date{T.AddDays(-5), T}
	rows := e.until("late claim", "HP-1", days1, func(r []row) bool { return len(r) > 0 })
	if figure(rows, "revenue", "var-g") != 10_000_000 || figure(rows, "rebate", "var-g") != 500_000 || figure(rows, "unattributed", "") != 0 {
		t.Errorf("1. late claim after the approval:\n%s", dump(rows))
	}

	// 2. A same-day invoice (T) arrives before the approval (T): first unattributed
	// 2,000,000, then the approval re-attributes it: revenue 2,000,000, rebate 100,000,
	// unattributed nets to 0. Before: it stayed unattributed.
	umbrella := oemfeed.Customer{OEMAccountID: "HP-2", Name: "Umbrella AG", Country: "DE", Domain: "umbrella.example"}
	d2 := e.deal("var-b", umbrella.Name, umbrella.Domain)
	e.publish(hp("HP-2", 1, T, umbrella, "USD", clientLine(2_000_000)))
	e.until("same day, before the approval", "HP-2", []domain.Date{T}, func(r []row) bool { return figure(r, "unattributed", "") == 2_000_000 })
	e.approve(d2)
	rows = e.until("same day, approved", "HP-2", []domain.Date{T}, func(r []row) bool { return figure(r, "unattributed", "") == 0 })
	if figure(rows, "revenue", "var-b") != 2_000_000 || figure(rows, "rebate", "var-b") != 100_000 {
		t.Errorf("2. same-day invoice before the approval:\n%s", dump(rows))
	}

	// 3. A grandfathered Gold partner claims an invoice dated T-5, before its enrolment in
	// the system (T): 4,000,000 x 5% = 200,000. Before: rebate 0 ("registered 0 bps").
	soylent := oemfeed.Customer{OEMAccountID: "HP-3", Name: "Soylent SA", Country: "DE", Domain: "soylent.example"}
	d3 := e.deal("var-g", soylent.Name, soylent.Domain)
	e.engage(d3, T.AddDays(-6))
	e.publish(hp("HP-3", 1, T.AddDays(-5), soylent, "USD", clientLine(4_000_000)))
	e.until("grandfathered, before the approval", "HP-3", days1, func(r []row) bool { return figure(r, "unattributed", "") == 4_000_000 })
	e.approve(d3)
	rows = e.until("grandfathered claim", "HP-3", days1, func(r []row) bool { return figure(r, "revenue", "var-g") == 4_000_000 })
	if figure(rows, "rebate", "var-g") != 200_000 {
		t.Errorf("3. grandfathered partner's late claim:\n%s", dump(rows))
	}

	// 4. An invoice dated T+1 arrives, then var-a is promoted to Platinum (effective T):
	// the rebate moves from 5,000 to 8,000 on 100,000, and re-sending the unchanged
	// invoice as revision 2 keeps 8,000. Before: 5,000 until the re-send moved it.
	acme := oemfeed.Customer{OEMAccountID: "HP-4", Name: "Acme KG", Country: "DE", Domain: "acme.example"}
	e.approve(e.deal("var-a", acme.Name, acme.Domain))
	e.publish(hp("HP-4", 1, T.AddDays(1), acme, "USD", clientLine(100_000)))
	days4 := []domain.Date{T.AddDays(1)}
	e.until("gold rate", "HP-4", days4, func(r []row) bool { return figure(r, "rebate", "var-a") == 5_000 })
	for i := 1; i < 2; i++ {
		e.call("POST", "/v1/partners/var-a/certifications", "channel_manager", map[string]any{"engineer": fmt.Sprintf("var-a-eng-%d", i),
			"segment": "client_management", "certified_on": T.String()}, 201)
	}
	e.call("POST", "/v1/partners/var-a/commitments", "channel_manager", map[string]any{
		"segments": []string{"client_management", "server_management", "asset_management"}, "quarterly_target_minor": 30_000_000, "currency": "USD"}, 201)
	e.call("POST", "/v1/partners/var-a/tier", "channel_manager", map[string]any{"tier": "platinum", "reason": "requirements met"}, 200)
	e.until("promotion", "HP-4", days4, func(r []row) bool { return figure(r, "rebate", "var-a") == 8_000 })
	e.publish(hp("HP-4", 2, T.AddDays(1), acme, "USD", clientLine(100_000)))
	rows = e.until("re-sent", "HP-4", days4, func(r []row) bool {
		for _, x := range r {
			if strings.Contains(x.Reason, "revision 2 supersedes") {
				return true
			}
		}
		return false
	})
	if figure(rows, "rebate", "var-a") != 8_000 || figure(rows, "revenue", "var-a") != 100_000 {
		t.Errorf("4. promotion and re-send:\n%s", dump(rows))
	}

	// 5. Two deals on one customer domain approved the same day: the approval first in the
	// log wins, whatever the ids. The deal with the larger id is approved first (before,
	// the smaller id won).
	hooli := oemfeed.Customer{OEMAccountID: "HP-5", Name: "Hooli One", Country: "DE", Domain: "hooli.example"}
	ids := []string{e.deal("var-a", "Hooli One", "hooli.example"), e.deal("var-b", "Hooli Two", "hooli.example")}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
	e.approve(ids[0])
	e.approve(ids[1])
	e.publish(hp("HP-5", 1, T, hooli, "USD", clientLine(300_000)))
	rows = e.until("tie", "HP-5", []domain.Date{T}, func(r []row) bool { return len(r) > 0 })
	if figure(rows, "revenue", "") != 300_000 || len(rows) < 1 || rows[0].RegistrationID != ids[0] ||
		!strings.Contains(rows[0].Reason, "deal "+ids[1]) {
		t.Errorf("5. tie: want %s (approved first), not %s:\n%s", ids[0], ids[1], dump(rows))
	}

	// 6. A credit memo in EUR against the USD invoice HP-1 is stored and waits for a
	// revision in EUR (exception status waiting): HP-1 keeps revenue 10,000,000 and rebate
	// 500,000. Before: the EUR memo was booked as a USD clawback of 5,000,000 (half the
	// line; on a credited line, half of the revenue and of the rebate).
	e.publish(memo("HP-CM-6", "HP-1", T, initech, "EUR", clientLine(5_000_000)))
	// A USD memo after it, for 1,000,000 (10%): -1,000,000 revenue, -50,000 rebate; once it
	// shows, the EUR memo (published before it on the same subject) was processed.
	e.publish(memo("HP-CM-6b", "HP-1", T, initech, "USD", clientLine(1_000_000)))
	rows = e.until("memos", "HP-1", days1, func(r []row) bool { return figure(r, "revenue", "var-g") == 9_000_000 })
	if figure(rows, "rebate", "var-g") != 450_000 {
		t.Errorf("6. EUR memo against a USD invoice:\n%s", dump(rows))
	}
	for _, r := range rows {
		if r.Currency != "USD" {
			t.Errorf("6. a %s row on a USD invoice: %+v", r.Currency, r)
		}
	}

	// 7. A credit memo that arrives before its invoice waits and is applied when the invoice
	// arrives: 3,000,000 invoiced, 1,000,000 returned: revenue 2,000,000, rebate 150,000 -
	// 50,000 = 100,000. Before: the memo was never applied (3,000,000 and 150,000).
	e.publish(memo("HP-CM-7", "HP-7", T, umbrella, "USD", clientLine(1_000_000)))
	e.publish(hp("HP-7", 1, T, umbrella, "USD", clientLine(3_000_000)))
	rows = e.until("memo before invoice", "HP-7", []domain.Date{T}, func(r []row) bool { return figure(r, "revenue", "var-b") == 2_000_000 })
	if figure(rows, "rebate", "var-b") != 100_000 {
		t.Errorf("7. memo before its invoice:\n%s", dump(rows))
	}

	// 8. A services line that arrives before the OEM's service handoff moves to the SI when
	// the handoff is recorded: 1,200,000 from oem (hp) to service (si-1). Before: it stayed
	// with HP.
	e.call("POST", "/v1/partners", "channel_manager", map[string]any{"id": "si-1", "name": "SI", "kind": "si", "geography": "emea"}, 201)
	svc := oemfeed.Line{Line: 1, SKU: "ALT-SVC-1", Segment: "services", Quantity: 1, UnitPriceMinor: 1_200_000, AmountMinor: 1_200_000}
	e.publish(hp("HP-8", 1, T, umbrella, "USD", svc))
	e.until("services before handoff", "HP-8", []domain.Date{T}, func(r []row) bool { return figure(r, "oem", "hp") == 1_200_000 })
	e.call("POST", "/v1/deals/"+d2+"/service-handoff", "channel_manager", map[string]any{"oem_id": "hp", "to_partner_id": "si-1"}, 200)
	rows = e.until("handoff", "HP-8", []domain.Date{T}, func(r []row) bool { return figure(r, "service", "si-1") == 1_200_000 })
	if figure(rows, "oem", "") != 0 {
		t.Errorf("8. services before the handoff:\n%s", dump(rows))
	}

	// 9. A credit memo on line 2 arrives before the revision that adds line 2: it waits for
	// that revision and is applied then, through the projection's stored records. Line 1
	// 1,000,000 + line 2 400,000 - 100,000 returned = 1,300,000 revenue, 65,000 rebate.
	// Before: the memo was dropped (1,400,000 and 70,000).
	line2 := oemfeed.Line{Line: 2, SKU: "ALT-CMS-200", Segment: "client_management", Quantity: 2, UnitPriceMinor: 200_000, AmountMinor: 400_000}
	e.publish(hp("HP-9", 1, T, umbrella, "USD", clientLine(1_000_000)))
	e.until("revision 1", "HP-9", []domain.Date{T}, func(r []row) bool { return figure(r, "revenue", "var-b") == 1_000_000 })
	m9 := memo("HP-CM-9", "HP-9", T, umbrella, "USD", oemfeed.Line{Line: 2, SKU: "ALT-CMS-200", Segment: "client_management", Quantity: 1,
		UnitPriceMinor: 100_000, AmountMinor: 100_000})
	e.publish(m9)
	e.publish(hp("HP-9", 2, T, umbrella, "USD", clientLine(1_000_000), line2))
	rows = e.until("memo before the revision that brings its line", "HP-9", []domain.Date{T}, func(r []row) bool {
		return figure(r, "revenue", "var-b") == 1_300_000
	})
	if figure(rows, "rebate", "var-b") != 65_000 {
		t.Errorf("9. memo before the revision that brings its line:\n%s", dump(rows))
	}
}
