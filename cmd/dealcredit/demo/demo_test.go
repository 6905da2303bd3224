package demo_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/cmd/dealcredit/demo"
	"dealcredit/domain"
	"dealcredit/internal/testkit/daemontest"
)

// TestDemo plays the whole story against the real daemon (Postgres,
// embedded JetStream, ingest, relay, projections) and checks the numbers
// the demo returns and prints.
func TestDemo(t *testing.T) {
	d := daemontest.Start(t, nil)
	if d.NATSURL == "" {
		t.Fatal("daemontest did not report the daemon's NATS URL")
	}
	nc, err := nats.Connect(d.NATSURL)
	if err != nil {
		t.Fatalf("connect NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := demo.LoadTokens(filepath.Join(d.Env["DEALCREDIT_DATA_DIR"], "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out strings.Builder
	sum, err := demo.Run(ctx, demo.Options{BaseURL: d.URL, Tokens: tokens, JetStream: js, DatabaseURL: d.Env["DATABASE_URL"], RunID: "t1"}, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}

	// The story's numbers: 690,000 of software credited to the Platinum VAR
	// at 800 bps, a 120,000 services line handed over by HP, one Dell line
	// in the exception queue, a 20,000 memo after the close, 87% indirect.
	checks := []struct {
		name      string
		got, want int64
		printed   string
	}{
		{"credited revenue", sum.CreditedRevenue, 690000, "credited revenue var-demo: 6,900.00 USD"},
		{"rebate", sum.Rebate, 55200, "rebate (platinum 800 bps): 552.00 USD"},
		{"rebate bps", sum.RebateBPS, 800, "platinum 800 bps"},
		{"service credit", sum.ServiceCredit, 120000, "service credit: 1,200.00 USD"},
		{"exceptions", int64(sum.Exceptions), 1, "exceptions open: 1"},
		{"adjustment", sum.Adjustment, -20000, "adjustment in " + sum.Quarter + " for " + sum.ClosedQuarter + ": -200.00 USD"},
		{"direct", sum.Direct, 130000, "direct (maintenance, support) 1,300.00 USD"},
		{"indirect", sum.Indirect, 870000, "indirect (partners and OEMs) 8,700.00 USD"},
		{"indirect share", sum.IndirectBPS, 8700, "indirect share " + sum.Quarter + ": 87.00%"},
		{"mix adjustment", sum.Adjustment, -20000, "adjustments booked for closed quarters: direct -200.00 USD, indirect 0.00 USD"},
		{"grandfathered", int64(sum.Grandfathered), 250, "250 existing partners grandfathered as Gold"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
		if !strings.Contains(out.String(), c.printed) {
			t.Errorf("%s: output lacks %q", c.name, c.printed)
		}
	}
	// Leads: the one scarce us-west lead goes to the Platinum first; declined
	// with a reason, it cascades to the Gold of the geography.
	leadChecks := []struct{ name, got, want, printed string }{
		{"first offer", sum.LeadFirst, sum.PlatinumID, "offered to " + sum.PlatinumID + " (platinum)"},
		{"first tier", sum.LeadFirstTier, "platinum", "lead " + sum.LeadID + ": " + sum.PlatinumID + " (platinum) first, declined; cascaded to var-gold-t1 (gold)"},
		{"decline reason", sum.LeadReason, "fully booked on the Acme t1 Corp rollout this quarter", sum.PlatinumID + " declines (reason: fully booked"},
		{"cascaded to", sum.LeadCascadedTo, "var-gold-t1", "the lead cascades to var-gold-t1 (gold)"},
		{"cascaded tier", sum.LeadCascadedTier, "gold", "var-gold-t1 accepts it (accepted)"},
		{"accepted by", sum.LeadAcceptedBy, "var-gold-t1", "var-gold-t1 accepts it"},
	}
	for _, c := range leadChecks {
		if c.got != c.want {
			t.Errorf("lead %s = %q, want %q", c.name, c.got, c.want)
		}
		if !strings.Contains(out.String(), c.printed) {
			t.Errorf("lead %s: output lacks %q", c.name, c.printed)
		}
	}
	// us-west: the Platinum and the Gold hold one seat each (of 2 and 50).
	if sum.SeatsPlatinumUsed != 1 || sum.SeatsGoldUsed != 1 || !strings.Contains(out.String(), "us-west seats: platinum 1 of 2 used, 1 free; gold 1 of 50 used, 49 free") {
		t.Errorf("us-west seats used: platinum %d, gold %d", sum.SeatsPlatinumUsed, sum.SeatsGoldUsed)
	}
	checkChannel(t, sum, out.String())
	if sum.RefusedRule != "registration.tier" || !strings.Contains(out.String(), "rule registration.tier") {
		t.Errorf("registered partner refused by %q, want registration.tier", sum.RefusedRule)
	}
	if !sum.VerifyOK || sum.LogEvents == 0 || sum.MirrorChecked != sum.LogEvents || !strings.Contains(out.String(), "verify: OK") {
		t.Errorf("verify: ok %v, %d events, mirror %d", sum.VerifyOK, sum.LogEvents, sum.MirrorChecked)
	}
	if !sum.ReplayMatches || sum.ReplayPosition == 0 || !strings.Contains(out.String(), "same numbers") {
		t.Errorf("replay: matches %v at position %d", sum.ReplayMatches, sum.ReplayPosition)
	}
	if want := d.Token(t, "partner"); want == "" || sum.PlatinumID == "" {
		t.Errorf("platinum partner %q", sum.PlatinumID)
	}
	// Finance's week, in the quarter before the closed one: the Dell line to
	// Initech's holding (800.00 EUR of software) assigned by hand to the Gold
	// VAR's deal, 40.00 EUR of rebates (500 bps) approved, 30.00 paid, 20.00
	// more refused, one row in the payout file; at 1.1 USD a EUR the company
	// is 75.00% indirect (500.00 USD direct, 1,500.00 USD indirect).
	fin := sum.Finance
	if want := domain.MustQuarter(sum.ClosedQuarter).Prev().String(); fin.Quarter != want {
		t.Errorf("finance's quarter %s, want %s", fin.Quarter, want)
	}
	finChecks := []struct {
		name      string
		got, want int64
		printed   string
	}{
		{"assigned revenue", fin.Revenue, 80000, "statement var-fin-t1 " + fin.Quarter + " EUR: accrued; revenue 800.00 EUR, accrued 40.00 EUR"},
		{"accrued", fin.Accrued, 4000, "accrued 40.00 EUR, approved 0.00 EUR"},
		{"approved", fin.Approved, 4000, "EUR: approved; revenue 800.00 EUR, accrued 40.00 EUR, approved 40.00 EUR, paid 0.00 EUR, outstanding 40.00 EUR"},
		{"paid", fin.Paid, 3000, "approved 40.00 EUR, paid 30.00 EUR, outstanding 10.00 EUR"},
		{"outstanding", fin.Outstanding, 1000, "a second payout of 20.00 EUR is refused (422, rule payout.over_approved)"},
		{"payout rows", int64(fin.PayoutRows), 1, ",var-fin-t1," + fin.Quarter + ",EUR,3000,AP-t1-1," + sum.Today + ","},
		{"consolidated direct", fin.Direct, 50000, "company-wide in USD: direct 500.00 USD, indirect 1,500.00 USD: indirect share 75.00%"},
		{"consolidated indirect", fin.Indirect, 150000, "EUR: direct 220.00 USD, indirect 880.00 USD, at 1.1 (day " + domain.MustQuarter(fin.Quarter).End().String() + ", ECB reference rate)"},
		{"consolidated share", fin.IndirectShareBPS, 7500, "indirect share 75.00%"},
	}
	for _, c := range finChecks {
		if c.got != c.want {
			t.Errorf("finance %s = %d, want %d", c.name, c.got, c.want)
		}
		if !strings.Contains(out.String(), c.printed) {
			t.Errorf("finance %s: output lacks %q", c.name, c.printed)
		}
	}
	if fin.ExceptionStatus != "assigned" || fin.OverpayRule != "payout.over_approved" || fin.ReportingCurrency != "USD" || fin.Rate != "1.1" ||
		!fin.Complete || fin.ExceptionID == "" || !strings.Contains(out.String(), "finance assigns "+fin.ExceptionID+" to deal "+fin.DealID+" (reason: ") {
		t.Errorf("finance's week: %+v", fin)
	}

	// The next commands carry this run's values, so they work as pasted
	// (the README test runs one of them).
	for _, want := range []string{
		"dealcredit explain --oem hp --invoice HP-t1-0001 --line 1",
		"dealcredit export attribution --quarter " + sum.Quarter + " --format csv",
	} {
		if !slices.Contains(sum.Next, want) || !strings.Contains(out.String(), "   "+want+"\n") {
			t.Errorf("next commands %q (printed or not) lack %q", sum.Next, want)
		}
	}
}

// checkChannel checks the program running by itself: the hot lead lapsed at
// its respond_by and the scheduler (no caller) offered it to the Gold, in
// exactly one lapse event; the us-west enterprise rep is credited the
// platinum's two software lines of HP's invoice at the policy's share.
func checkChannel(t *testing.T, sum demo.Summary, out string) {
	t.Helper()
	ch := sum.Channel
	if ch.LeadFirst != sum.PlatinumID || ch.LeadFirstTier != "platinum" || ch.CascadedTo != "var-gold-t1" || ch.CascadedTier != "gold" {
		t.Errorf("hot lead: first %s (%s), cascaded to %s (%s); want the platinum, then var-gold-t1 (gold)", ch.LeadFirst, ch.LeadFirstTier, ch.CascadedTo, ch.CascadedTier)
	}
	if ch.LapseEvents != 1 || ch.LapsedBy != "scheduler" {
		t.Errorf("hot lead: %d lapse events by %q, want exactly 1 by the scheduler", ch.LapseEvents, ch.LapsedBy)
	}
	if ch.RespondBy.IsZero() || ch.LapsedAt.Before(ch.RespondBy) || ch.CascadedUntil.Sub(ch.LapsedAt) != 48*time.Hour {
		t.Errorf("hot lead: respond by %s, lapsed at %s, next offer until %s (want the policy's 48 h after the lapse)", ch.RespondBy, ch.LapsedAt, ch.CascadedUntil)
	}
	// The policy's share (the default 100%, carried over by the demo's policy), per line.
	want := domain.ApplyBPS(450000, ch.RepShareBPS) + domain.ApplyBPS(240000, ch.RepShareBPS)
	if ch.RepShareBPS != 10000 || ch.RepBase != 690000 || ch.RepCredit != want || ch.RepCredit != 690000 {
		t.Errorf("rep %s: credit %d on base %d at %d bps, want %d", ch.RepID, ch.RepCredit, ch.RepBase, ch.RepShareBPS, want)
	}
	if ch.RepID != "rep-t1" || ch.StatementCredit != ch.RepCredit || ch.StatementLines != 2 || ch.StatementDeals != 1 {
		t.Errorf("rep %s statement: credit %d, %d lines, %d deals; want %d, 2, 1", ch.RepID, ch.StatementCredit, ch.StatementLines, ch.StatementDeals, ch.RepCredit)
	}
	for _, p := range []string{
		"respond by " + ch.RespondBy.Format(time.RFC3339) + " (5s ahead",
		"lapsed at " + ch.RespondBy.Format(time.RFC3339) + ", offered to var-gold-t1 (gold) by the scheduler at ",
		"(1 lapse event, actor \"scheduler\")",
		"rep-t1 credited 6,900.00 USD = 6,900.00 USD of channel revenue x 10000 bps",
		"statement rep-t1 " + sum.Quarter + ": credit 6,900.00 USD on 2 lines of 1 deal(s)",
		"field rep rep-t1 (us-west/enterprise) credited 6,900.00 USD at 10000 bps",
	} {
		if !strings.Contains(out, p) {
			t.Errorf("output lacks %q", p)
		}
	}
}
