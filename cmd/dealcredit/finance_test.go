package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/consumers/oemfeed"
	"dealcredit/domain"
	"dealcredit/internal/testkit/daemontest"
)

// send sends a JSON request as token and returns the answer's body; a status
// other than 200 or 201 fails the test.
func send(t *testing.T, d *daemontest.Daemon, token, method, path string, body any) []byte {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, d.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, out)
	}
	return out
}

// mustCLI runs the CLI and fails the test on an error.
func mustCLI(t *testing.T, d *daemontest.Daemon, args ...string) string {
	t.Helper()
	out, err := cli(t, d, args...)
	if err != nil {
		t.Fatalf("dealcredit %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// cliFails runs the CLI, which must fail with an error containing each of wants.
func cliFails(t *testing.T, d *daemontest.Daemon, wants []string, args ...string) {
	t.Helper()
	out, err := cli(t, d, args...)
	if err == nil {
		t.Fatalf("dealcredit %s succeeded:\n%s", strings.Join(args, " "), out)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("dealcredit %s: error %q lacks %q", strings.Join(args, " "), err, w)
		}
	}
}

// position is the log position a command's output line ends with.
func position(t *testing.T, out string) string {
	t.Helper()
	i := strings.LastIndex(out, "at position ")
	if i < 0 {
		t.Fatalf("no position in %q", out)
	}
	return strings.TrimSpace(out[i+len("at position "):])
}

// TestFinanceWeekThroughTheCLI drives finance's week with the CLI against a
// real daemon, the invoices on the real feed (dealcredit publish): an
// exception listed and assigned to a deal with a reason, the statement
// approved, payouts recorded (a retry stored once, one above the approved
// amount refused) and exported, FX rates set (a conflicting one refused,
// then corrected) and the mix reported in the reporting currency; wrong
// input is an error naming the flag, with the API's problem.
func TestFinanceWeekThroughTheCLI(t *testing.T) {
	d := daemontest.Start(t, nil)
	admin, cm := d.Token(t, "admin"), d.Token(t, "channel_manager")
	today := domain.DateOf(time.Now())
	prev := today.Quarter().Prev()
	day := prev.End().AddDays(-5)

	send(t, d, cm, "POST", "/v1/partners", map[string]any{"id": "hp", "name": "HP", "kind": "oem", "geography": "emea"})
	// Gold since long before last quarter, so last quarter's line earns the gold rebate (500 bps).
	joined := prev.Start().AddDays(-400).String()
	send(t, d, admin, "POST", "/v1/partners:grandfather", map[string]any{"partners": []map[string]any{{"id": "var-f", "name": "Fin VAR",
		"kind": "var", "geography": "emea", "joined_on": joined, "tier_history": []map[string]string{{"tier": "gold", "from": joined}}}}})
	var deal struct {
		DealID string `json:"deal_id"`
	}
	if err := json.Unmarshal(send(t, d, cm, "POST", "/v1/deals", map[string]any{"partner_id": "var-f", "geography": "emea",
		"customer": map[string]string{"name": "Initech", "country": "DE", "domain": "initech.example"}, "segments": []string{"client_management"},
		"expected_value_minor": 500_000, "currency": "USD"}), &deal); err != nil || deal.DealID == "" {
		t.Fatalf("register: %v %+v", err, deal)
	}
	send(t, d, cm, "POST", "/v1/deals/"+deal.DealID+"/approve", nil)
	send(t, d, admin, "PUT", "/v1/policy", map[string]any{"effective_from": today.String(), "rebate_bps": map[string]int{"gold": 500, "platinum": 800},
		"registration_days": 90, "claim_grace_days": 30, "reporting_currency": "USD"})

	// Initech bought last quarter under its holding's name: nothing matches the USD line.
	holding := oemfeed.Customer{OEMAccountID: "HP-IH", Name: "Initech Holding", Country: "DE", Domain: "initech-holding.example"}
	feed := filepath.Join(t.TempDir(), "hp.jsonl")
	var lines []string
	for _, m := range []oemfeed.Message{
		{OEMID: "hp", InvoiceNumber: "HP-F1", Revision: 1, Kind: oemfeed.KindInvoice, InvoiceDate: day.String(), Currency: "USD", Customer: holding,
			Lines: []oemfeed.Line{{Line: 1, SKU: "ALT-CMS-100", Segment: "client_management", Quantity: 1, UnitPriceMinor: 100_000, AmountMinor: 100_000}}},
		{OEMID: "hp", InvoiceNumber: "HP-F2", Revision: 1, Kind: oemfeed.KindInvoice, InvoiceDate: day.String(), Currency: "EUR", Customer: holding,
			Lines: []oemfeed.Line{{Line: 1, SKU: "ALT-MNT-1Y", Segment: "maintenance", Quantity: 1, UnitPriceMinor: 50_000, AmountMinor: 50_000}}},
	} {
		m.Schema = oemfeed.SchemaV1
		b, _ := json.Marshal(m)
		lines = append(lines, string(b))
	}
	if err := os.WriteFile(feed, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitOEMStream(t, d)
	mustCLI(t, d, "publish", "--oem", "hp", feed)

	// The queue, until the line arrives.
	var row []string
	for deadline := time.Now().Add(30 * time.Second); row == nil; {
		for _, l := range strings.Split(mustCLI(t, d, "exceptions", "list", "--status", "open", "--quarter", "previous"), "\n") {
			if f := strings.Fields(l); len(f) > 2 && f[2] == "HP-F1" {
				row = f
			}
		}
		if row == nil && time.Now().After(deadline) {
			t.Fatal("HP-F1 never reached the exception queue")
		}
		if row == nil {
			time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
		}
	}
	id := row[0]
	if want := []string{id, "hp", "HP-F1", "1", prev.String(), "client_management", "1,000.00", "USD", "open", "-", "Initech", "Holding"}; fmt.Sprint(row) != fmt.Sprint(want) {
		t.Errorf("queue row %q, want %q", row, want)
	}

	// --json --all: one JSON document holding every page's exceptions.
	tableRows := len(strings.Split(strings.TrimSpace(mustCLI(t, d, "exceptions", "list", "--all", "--limit", "1")), "\n")) - 1
	var allPages struct {
		Data struct {
			Exceptions []struct {
				ExceptionID string `json:"exception_id"`
			} `json:"exceptions"`
			Next string `json:"next"`
		} `json:"data"`
	}
	if out := mustCLI(t, d, "exceptions", "list", "--json", "--all", "--limit", "1"); json.Unmarshal([]byte(out), &allPages) != nil ||
		len(allPages.Data.Exceptions) != tableRows || tableRows < 1 || allPages.Data.Next != "" {
		t.Errorf("exceptions list --json --all --limit 1: %d exceptions (next %q), the table has %d rows; output %q",
			len(allPages.Data.Exceptions), allPages.Data.Next, tableRows, out)
	}

	// Wrong input: errors name the flag, with the API's problem.
	cliFails(t, d, []string{"--deal is required (the id of an approved deal"}, "exceptions", "assign", id, "--reason", "r")
	cliFails(t, d, []string{"404", "field deal_id (--deal)"}, "exceptions", "assign", id, "--deal", "no-such-deal", "--reason", "r")
	cliFails(t, d, []string{"400", "field after (--after)", `after "x0000"`}, "exceptions", "list", "--after", "x0000")
	cliFails(t, d, []string{"400", "field status (--status)"}, "exceptions", "list", "--status", "lost")
	cliFails(t, d, []string{`--as: no "nobody" token`}, "exceptions", "list", "--as", "nobody")
	cliFails(t, d, []string{"403"}, "exceptions", "list", "--as", "admin")
	cliFails(t, d, []string{"exceptions assign: name one EXCEPTION_ID"}, "exceptions", "assign", "--deal", deal.DealID, "--reason", "r")

	out := mustCLI(t, d, "exceptions", "assign", id, "--deal", deal.DealID, "--reason", "invoiced to the holding")
	if !strings.Contains(out, "exception "+id+" assign: exception.assigned at position") {
		t.Errorf("assign printed %q", out)
	}
	out = mustCLI(t, d, "exceptions", "list", "--status", "assigned", "--min-position", position(t, out), "--json")
	if !strings.Contains(out, `"partner_id":"var-f"`) || !strings.Contains(out, `"reason":"invoiced to the holding"`) {
		t.Errorf("assigned exception as JSON: %s", out)
	}

	// The statement: 1,000.00 USD credited at 500 bps = 50.00 USD of rebates, approved.
	cliFails(t, d, []string{"422", "statement.quarter_ended"}, "statements", "approve", "var-f", today.Quarter().String())
	pos := position(t, mustCLI(t, d, "statements", "approve", "var-f", prev.String()))
	out = mustCLI(t, d, "statements", "show", "var-f", prev.String(), "--min-position", pos)
	if f := fieldsOf(out, "USD"); fmt.Sprint(f) != "[USD approved 1,000.00 USD 50.00 USD 50.00 USD 0.00 USD 50.00 USD]" {
		t.Errorf("statement after approval: %q\n%s", f, out)
	}
	cliFails(t, d, []string{"409", "statement.approved_once"}, "statements", "approve", "var-f", prev.String())

	// Payouts: 30.00 paid (a retry is stored once), 30.00 more refused, the file has one row.
	pay := []string{"payouts", "record", "var-f", prev.String(), "--amount-minor", "3000", "--currency", "USD", "--reference", "AP-1", "--paid-on", today.String()}
	first := mustCLI(t, d, pay...)
	if again := mustCLI(t, d, pay...); again != first {
		t.Errorf("retried payout printed %q, first %q", again, first)
	}
	pay[9] = "AP-2"
	cliFails(t, d, []string{"422", "payout.over_approved", "field amount_minor (--amount-minor)"}, pay...)
	cliFails(t, d, []string{`invalid argument "30.00" for "--amount-minor"`}, "payouts", "record", "var-f", prev.String(), "--amount-minor", "30.00",
		"--currency", "USD", "--reference", "AP-3", "--paid-on", today.String())
	cliFails(t, d, []string{"400", "field paid_on (--paid-on)"}, "payouts", "record", "var-f", prev.String(), "--amount-minor", "1",
		"--currency", "USD", "--reference", "AP-4", "--paid-on", "2026-13-01")
	// The corrected command under the same reference: the API keeps the
	// refusal for that key's retries; the CLI says which flag to change
	// (before: only "Idempotency-Key: this key was already used").
	cliFails(t, d, []string{"--reference: AP-4 was already sent for var-f " + prev.String() + " with other values", "give this payment its own --reference"},
		"payouts", "record", "var-f", prev.String(), "--amount-minor", "1", "--currency", "USD", "--reference", "AP-4", "--paid-on", today.String())
	csvOut := filepath.Join(t.TempDir(), "payouts.csv")
	mustCLI(t, d, "payouts", "export", "--quarter", prev.String(), "--out", csvOut, "--min-position", position(t, first))
	b, err := os.ReadFile(csvOut)
	if err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, string(b))
	if len(rows) != 2 || strings.Join(rows[0][:7], ",") != "position,partner_id,quarter,currency,amount_minor,reference,paid_on" ||
		strings.Join(rows[1][1:7], ",") != "var-f,"+prev.String()+",USD,3000,AP-1,"+today.String() {
		t.Errorf("payout file:\n%s", b)
	}

	// FX: no EUR rate yet, the report is incomplete and names it.
	rateDay := prev.End().String()
	out = mustCLI(t, d, "fx-rates", "report", "--quarter", prev.String())
	if !strings.Contains(out, "MISSING EUR/USD on "+rateDay) || !strings.Contains(out, "incomplete: 1 rate(s) missing") {
		t.Errorf("report without the EUR rate:\n%s", out)
	}
	set := []string{"fx-rates", "set", "--from", "EUR", "--to", "USD", "--rate", "1.1", "--on", rateDay, "--source", "ECB reference rate"}
	mustCLI(t, d, set...)
	if out := mustCLI(t, d, set...); !strings.Contains(out, "nothing appended") {
		t.Errorf("the same rate again: %q", out)
	}
	set[7] = "1.2"
	cliFails(t, d, []string{"409", "fx.rate_recorded", "field rate (--rate)", "already 1.1"}, set...)
	cliFails(t, d, []string{"409", "field corrects (--corrects)"}, append(set, "--corrects", "1.05")...)
	cliFails(t, d, []string{"400", "field rate (--rate)"}, "fx-rates", "set", "--from", "EUR", "--to", "USD", "--rate", "1,2", "--on", rateDay, "--source", "ECB")
	mustCLI(t, d, append(set, "--corrects", "1.1", "--reason", "keyed the wrong rate")...)
	if f := fieldsOf(mustCLI(t, d, "fx-rates", "list"), "EUR"); fmt.Sprint(f) != "[EUR USD 1.2 day "+rateDay+" ECB reference rate 2]" {
		t.Errorf("rates: %q", f)
	}
	// The statement in USD: 1,000.00 USD of revenue against var-f's target (none: 0).
	out = mustCLI(t, d, "statements", "show", "var-f", prev.String(), "--reporting")
	if f := fieldsOf(out, "USD"); fmt.Sprint(f) != "[USD 1,000.00 USD 50.00 USD 0.00 USD (reporting currency)]" || !strings.Contains(out, "total revenue 1,000.00 USD, rebates 50.00 USD") {
		t.Errorf("statement in the reporting currency:\n%s", out)
	}
	// 50,000 EUR cents at 1.2 = 60,000 USD cents direct; 100,000 USD indirect: 62.50%.
	out = mustCLI(t, d, "fx-rates", "report", "--quarter", prev.String())
	if f := fieldsOf(out, "EUR"); fmt.Sprint(f) != "[EUR 600.00 USD 0.00 USD 1.2 day "+rateDay+", ECB reference rate]" ||
		!strings.Contains(out, "total direct 600.00 USD, indirect 1,000.00 USD: indirect share 62.50%") {
		t.Errorf("report:\n%s", out)
	}
}

// fieldsOf returns the fields of the first line of out that starts with first.
func fieldsOf(out, first string) []string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == first {
			return f
		}
	}
	return nil
}

// waitOEMStream waits until the daemon provisioned HP's invoice stream.
func waitOEMStream(t *testing.T, d *daemontest.Daemon) {
	t.Helper()
	nc, err := nats.Connect(d.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	d.WaitOEMUser(t, "hp", js)
}
