package attribution_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"dealcredit/domain"
	"dealcredit/eventstore"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/genlog"
	"dealcredit/internal/pgdb"
	"dealcredit/internal/testkit/logtest"
	"dealcredit/projections/attribution"
	"dealcredit/projections/runner"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

type env struct {
	pool  *pgxpool.Pool
	store *pgstore.Store
}

func newEnv(tb testing.TB) env {
	tb.Helper()
	ctx := context.Background()
	dsn := logtest.MigratedDatabase(tb)
	pool, err := pgdb.OpenPool(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	store, err := pgstore.New(pool, pgstore.Options{RecheckInterval: 200 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close(); pool.Close() })
	return env{pool: pool, store: store}
}

// appendEvents appends domain events, each to its own stream, in order, and
// returns the position of the last one.
func (e env) appendEvents(tb testing.TB, evs ...domain.Event) int64 {
	tb.Helper()
	var units []eventstore.AppendRequest
	for _, ev := range evs {
		typ, v, data, err := domain.Encode(ev)
		if err != nil {
			tb.Fatal(err)
		}
		units = append(units, eventstore.AppendRequest{Stream: domain.StreamOf(ev), Expected: eventstore.Any, Events: []eventstore.Event{{
			ID: uuid.New(), Type: typ, SchemaVersion: v, Data: data, OccurredAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}})
	}
	var last int64
	for len(units) > 0 {
		n := min(len(units), 200)
		res, err := e.store.AppendAtomic(context.Background(), units[:n]...)
		if err != nil {
			tb.Fatal(err)
		}
		last = res[len(res)-1].LastPosition()
		units = units[n:]
	}
	return last
}

var acme = domain.Customer{OEMAccountID: "C-4711", Name: "Acme Corp", Country: "US", Domain: "acme.example"}

// The generated log's builders (the rebuild benchmark's mix).
var (
	customer           = genlog.Customer
	enroll             = genlog.Enroll
	registerAndApprove = genlog.RegisterAndApprove
	invoice            = genlog.Invoice
	creditMemo         = genlog.CreditMemo
)

// runUntil runs the live runner in batches of 7 until it reflects head,
// then stops it.
func runUntil(t *testing.T, e env, head int64) {
	t.Helper()
	runBatchesUntil(t, e, head, 7)
}

// runBatchesUntil runs the live runner in batches of batch until it reflects
// head, then stops it.
func runBatchesUntil(t *testing.T, e env, head int64, batch int) {
	t.Helper()
	r, err := runner.New(e.pool, e.store, attribution.New(), runner.Options{BatchSize: batch})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	// The deadline is for progress: a runner that still moves (slowly, under
	// the race detector on a busy machine) gets another minute.
	deadline, last := time.Now().Add(60*time.Second), int64(-1)
	for r.Status().Position < head {
		s := r.Status()
		if s.Position != last {
			deadline, last = time.Now().Add(60*time.Second), s.Position
		}
		if s.State == runner.StateFailed || time.Now().After(deadline) {
			cancel()
			t.Fatalf("runner did not reach %d: %+v", head, s)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func statement(t *testing.T, rd *attribution.Reader, partner, q string) attribution.Statement {
	t.Helper()
	ss, _, err := rd.Statements(context.Background(), partner, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 {
		t.Fatalf("statements of %s %s: %+v", partner, q, ss)
	}
	return ss[0]
}

func TestCreditMemoAfterQuarterCloseIsAnAdjustment(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	evs := []domain.Event{enroll("var-1")}
	evs = append(evs, registerAndApprove("d-1", "var-1", acme)...)
	evs = append(evs, invoice("HP-1", "2026-02-14", acme, 100))
	invoicePos := e.appendEvents(t, evs...)
	closePos := e.appendEvents(t, domain.QuarterClosed{Quarter: domain.MustQuarter("2026Q1"), ClosedOn: domain.MustDate("2026-04-02"), By: "fin"})
	head := e.appendEvents(t, creditMemo("HP-CM-1", "HP-1", "2026-03-30", acme, 20))
	runUntil(t, e, head)

	rd := attribution.NewReader(e.pool)
	q1 := statement(t, rd, "var-1", "2026Q1")
	if q1.CreditedRevenue != 450000 || q1.Rebates != 22500 || q1.AdjustmentRevenue != 0 {
		t.Fatalf("Q1 statement %+v", q1)
	}
	q2 := statement(t, rd, "var-1", "2026Q2")
	if q2.AdjustmentRevenue != -90000 || q2.AdjustmentRebates != -4500 || q2.CreditedRevenue != 0 {
		t.Fatalf("Q2 statement %+v", q2)
	}
	mix, _, err := rd.RevenueMix(ctx, "2026Q1")
	if err != nil || len(mix) != 1 || mix[0].DirectMinor != 10000 || mix[0].IndirectMinor != 450000 || mix[0].IndirectShareBPS != 9783 {
		t.Fatalf("mix %+v %v", mix, err)
	}
	// Q2 has no revenue of its own: the memo's -900.00 USD of Q1 stands in
	// the adjustment column, not in Q2's indirect figure (issue 13 item 6).
	mix, _, err = rd.RevenueMix(ctx, "2026Q2")
	want := attribution.Mix{Quarter: "2026Q2", Currency: "USD", AdjustmentIndirectMinor: -90000}
	if err != nil || len(mix) != 1 || mix[0] != want {
		t.Fatalf("Q2 mix %+v %v, want %+v", mix, err, want)
	}
	var mixCSV bytes.Buffer
	if _, err := rd.WriteRevenueMixCSV(ctx, &mixCSV, "2026Q2"); err != nil {
		t.Fatal(err)
	}
	if got, want := mixCSV.String(), "quarter,currency,direct_minor,indirect_minor,indirect_share_bps,adjustment_direct_minor,adjustment_indirect_minor\n"+
		"2026Q2,USD,0,0,0,0,-90000\n"; got != want {
		t.Fatalf("Q2 mix CSV\n%s\nwant\n%s", got, want)
	}

	// As-of replays: before the memo, after the close, and at the end.
	recs, err := e.store.ReadAll(ctx, closePos-1, 1)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		asOf   attribution.AsOf
		wantQ2 bool
	}{
		{"position of the invoice", attribution.AsOf{Position: invoicePos}, false},
		{"time of the close", attribution.AsOf{Time: recs[0].RecordedAt}, false},
		{"end of log", attribution.AsOf{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := attribution.Replay(ctx, e.pool, e.store, c.asOf, dir, nil); err != nil {
				t.Fatal(err)
			}
			st := readFile(t, dir, "statements.csv")
			if !strings.Contains(st, "var-1,2026Q1,USD,450000,22500,0,0,0,0,") {
				t.Fatalf("Q1 statement changed in replay:\n%s", st)
			}
			if got := strings.Contains(st, "var-1,2026Q2,USD,0,0,0,-90000,-4500,0,"); got != c.wantQ2 {
				t.Fatalf("Q2 adjustment present=%v, want %v:\n%s", got, c.wantQ2, st)
			}
		})
	}

	// The replay at the end equals the live tables byte for byte.
	dir := t.TempDir()
	if _, err := attribution.Replay(ctx, e.pool, e.store, attribution.AsOf{}, dir, nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"attribution.csv", func(b *bytes.Buffer) error { _, err := rd.WriteLedgerCSV(ctx, b, "", ""); return err }},
		{"statements.csv", func(b *bytes.Buffer) error { _, err := rd.WriteStatementsCSV(ctx, b, "", ""); return err }},
		{"revenue_mix.csv", func(b *bytes.Buffer) error { _, err := rd.WriteRevenueMixCSV(ctx, b, ""); return err }},
	} {
		var live bytes.Buffer
		if err := f.write(&live); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, dir, f.name); got != live.String() {
			t.Fatalf("%s: replay differs from live\nreplay:\n%s\nlive:\n%s", f.name, got, live.String())
		}
	}

	// Explain names the events behind each credit of the line.
	ex, err := rd.Explain(ctx, "hp", "HP-1", 1)
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := ex.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	for _, c := range ex.Credits {
		if len(c.Events) == 0 || len(c.Events) != len(c.EventIDs) {
			t.Fatalf("credit without events or policy: %+v", c)
		}
		for _, ev := range c.Events {
			types[ev.Type] = true
		}
	}
	if !types["invoice.received"] || !types["deal.registered"] || !types["deal.approved"] {
		t.Fatalf("explanation lacks events: %v\n%s", types, text.String())
	}
	// People read major units with the currency; JSON keeps minor units.
	if !strings.Contains(text.String(), "revenue 4,500.00 USD to var-1") {
		t.Fatalf("explanation does not print the revenue credit in major units:\n%s", text.String())
	}
	// Each credit with its arithmetic (issue 13 item 7): 100 x 45.00 USD at
	// gold 500 bps; the memo returns 20 of the 100 licences (900.00 USD).
	arith := map[string]string{}
	for _, c := range ex.Credits {
		arith[fmt.Sprintf("%s %d", c.Kind, c.AmountMinor)] = c.Arithmetic
	}
	for k, want := range map[string]string{
		"revenue 450000": "4,500.00 USD, the line's amount in full",
		"rebate 22500":   "4,500.00 USD x 5.00% = 225.00 -> 225.00 USD, half away from zero, per line",
		"revenue -90000": "clawback: 4,500.00 USD x 900.00 USD returned / 4,500.00 USD line = 900.00 USD cumulative (half away from zero), less 0.00 USD clawed back before: -900.00 USD",
		"rebate -4500":   "clawback: 225.00 USD x 900.00 USD returned / 4,500.00 USD line = 45.00 USD cumulative (half away from zero), less 0.00 USD clawed back before: -45.00 USD",
	} {
		if arith[k] != want {
			t.Errorf("arithmetic of %s = %q, want %q", k, arith[k], want)
		}
		if !strings.Contains(text.String(), "  arithmetic: "+want+"\n") {
			t.Errorf("explanation text lacks the arithmetic %q:\n%s", want, text.String())
		}
	}
	if _, err := rd.Explain(ctx, "hp", "HP-404", 1); !attribution.IsNoLine(err) {
		t.Fatalf("explain unknown line: %v", err)
	}

	rep, err := runner.Verify(ctx, e.pool, e.store, 0, attribution.New())
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v\n%s", err, rep)
	}
}

// genLog appends genlog's log of n events (partners, approved deals,
// invoices with software and maintenance lines, credit memos and a quarter
// close), 10% of the registrations approved only after their customer's
// first invoice (re-attributions), and returns the head.
func genLog(tb testing.TB, e env, n int) int64 {
	tb.Helper()
	head, err := genlog.AppendWith(context.Background(), e.store, n, 200, genlog.Options{LatePercent: 10}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return head
}

func TestKilledRunnerEqualsCleanRebuild(t *testing.T) {
	n, kills := 50000, 10
	if os.Getenv("DEALCREDIT_SOAK") != "" {
		n, kills = 200000, 30
	}
	batch := n / (kills * 3)
	e := newEnv(t)
	head := genLog(t, e, n)
	ctx := context.Background()
	killed := 0
	for k := 0; k < kills; k++ {
		r, err := runner.New(e.pool, e.store, attribution.New(), runner.Options{BatchSize: batch})
		if err != nil {
			t.Fatal(err)
		}
		kctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- r.Run(kctx) }()
		start := r.Status().Position
		deadline := time.Now().Add(30 * time.Second)
		// Kill as soon as the runner has moved (a random point in time).
		for {
			s := r.Status()
			if s.Position > start || s.State == runner.StateLive || s.State == runner.StateFailed || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond) // polling with a deadline
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("kill %d: %v", k, err)
		}
		if r.Status().Position < head {
			killed++
		}
	}
	if killed < 10 && os.Getenv("DEALCREDIT_SOAK") == "" {
		t.Logf("only %d kills before the head", killed)
	}
	runBatchesUntil(t, e, head, batch)
	rep, err := runner.Verify(ctx, e.pool, e.store, 0, attribution.New())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("live tables differ from a clean rebuild:\n%s", rep)
	}
	var rows int64
	if err := e.pool.QueryRow(ctx, "SELECT count(*) FROM proj_attribution.ledger").Scan(&rows); err != nil || rows == 0 {
		t.Fatalf("ledger rows %d %v", rows, err)
	}
	t.Logf("events %d, kills before head %d, ledger rows %d", head, killed, rows)
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Two invoices, each representable, whose credits to one partner pass 2^63:
// the projection stops at the second one, whatever the batch size (within
// one batch the sum would wrap in Go; across batches the bigint column
// refuses it), instead of storing a wrapped sum or retrying for ever.
func TestStatementOverflowStopsAtTheEvent(t *testing.T) {
	for _, batch := range []int{1, 1000} {
		t.Run(fmt.Sprintf("batch %d", batch), func(t *testing.T) {
			e := newEnv(t)
			evs := []domain.Event{enroll("var-1")}
			evs = append(evs, registerAndApprove("d-1", "var-1", acme)...)
			huge := func(n string) domain.InvoiceReceived {
				inv := invoice(n, "2026-02-14", acme, 1)
				inv.Lines = inv.Lines[:1]
				inv.Lines[0].UnitPriceMinor, inv.Lines[0].AmountMinor = 1<<62, 1<<62
				return inv
			}
			evs = append(evs, huge("HP-1"))
			second := e.appendEvents(t, append(evs, huge("HP-2"))...)
			r, err := runner.New(e.pool, e.store, attribution.New(), runner.Options{BatchSize: batch, LagInterval: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			deadline := time.Now().Add(60 * time.Second)
			for r.Status().State != runner.StateFailed {
				if time.Now().After(deadline) {
					cancel()
					t.Fatalf("runner did not stop: %+v", r.Status())
				}
				time.Sleep(10 * time.Millisecond) // polling with a deadline
			}
			cancel()
			<-done
			t.Logf("stopped: %s", r.Status().Error)
			if s := r.Status(); s.FailedPosition != second || s.Position != second-1 || s.FailedType != "invoice.received" {
				t.Fatalf("status %+v, want stopped at %d", s, second)
			}
		})
	}
}

// A partner credited in USD and EUR gets one statement per currency; the
// scorecard (in the policy's USD) is on the USD row only, the EUR row names
// its currency, and a quarter with EUR credits only still gets its USD
// scorecard row (issue 13 item 6: EUR and JPY rows carried the USD scorecard).
func TestStatementScorecardPerCurrency(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	eur := func(inv domain.InvoiceReceived) domain.InvoiceReceived { inv.Currency = "EUR"; return inv }
	evs := []domain.Event{enroll("var-1")}
	evs = append(evs, registerAndApprove("d-1", "var-1", acme)...)
	evs = append(evs, invoice("HP-1", "2026-02-14", acme, 100), eur(invoice("HP-2", "2026-02-15", acme, 10)),
		eur(invoice("HP-3", "2026-04-15", acme, 2)))
	runUntil(t, e, e.appendEvents(t, evs...))

	ss, _, err := attribution.NewReader(e.pool).Statements(ctx, "var-1", "")
	if err != nil {
		t.Fatal(err)
	}
	gold := []string{"gold tier needs at least 1 certified engineer(s); has 0",
		"gold tier needs a commitment to one software segment; has 0",
		"gold tier needs a quarterly target of at least 50,000.00 USD; has none"}
	row := func(q, cur string, revenue, rebates, credited int64, eligible string, unmet ...string) attribution.Statement {
		s := attribution.Statement{PartnerID: "var-1", Quarter: q, Currency: cur, CreditedRevenue: revenue, Rebates: rebates,
			Tier: "gold", CurrentTier: "gold", EligibleTier: eligible, Segments: []string{}, ScorecardCurrency: "USD",
			ScorecardCredited: credited, Unmet: append([]string{}, unmet...), Status: "accrued", Accrued: rebates}
		return s
	}
	want := []attribution.Statement{
		row("2026Q1", "EUR", 45000, 2250, 0, ""),
		row("2026Q1", "USD", 450000, 22500, 450000, "registered", append(gold[:3:3],
			"gold tier needs credited revenue of at least 50,000.00 USD in 2026Q1; has 4,500.00 USD")...),
		row("2026Q2", "EUR", 9000, 450, 0, ""),
		row("2026Q2", "USD", 0, 0, 0, "registered", append(gold[:3:3],
			"gold tier needs credited revenue of at least 50,000.00 USD in 2026Q2; has 0.00 USD")...),
	}
	if len(ss) != len(want) {
		t.Fatalf("statements %+v", ss)
	}
	for i := range want {
		if fmt.Sprintf("%+v", ss[i]) != fmt.Sprintf("%+v", want[i]) {
			t.Errorf("statement %d\n got %+v\nwant %+v", i, ss[i], want[i])
		}
	}
}

// A line booked before its deal's approval is re-attributed when the
// approval arrives: explain names the approval as the fact that booked the
// reversal and the rebooked credits, and the row the reversal replaces
// (issue 13 item 7).
func TestExplainReattributionNamesCauseAndReplacedRow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	reg := registerAndApprove("d-1", "var-1", acme)
	invPos := e.appendEvents(t, enroll("var-1"), reg[0], invoice("HP-1", "2026-02-14", acme, 3))
	approvalPos := e.appendEvents(t, reg[1])
	runUntil(t, e, approvalPos)

	ex, err := attribution.NewReader(e.pool).Explain(ctx, "hp", "HP-1", 1)
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := ex.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	// 3 x 45.00 = 135.00 USD unattributed at the invoice; at the approval its
	// reversal, then revenue 135.00 and the gold rebate 135.00 x 5% = 6.75.
	var got []string
	for _, c := range ex.Credits {
		row := fmt.Sprintf("%s %d booked by %s at %d", c.Kind, c.AmountMinor, c.BookedBy.Type, c.BookedBy.Position)
		if c.Replaces != nil {
			row += fmt.Sprintf(" replaces %d/%d", c.Replaces.Position, c.Replaces.Seq)
		}
		got = append(got, row+": "+c.Arithmetic)
	}
	want := []string{
		fmt.Sprintf("unattributed 13500 booked by invoice.received at %d: 135.00 USD, the line's amount in full", invPos),
		fmt.Sprintf("unattributed -13500 booked by deal.approved at %d replaces %d/0: reverses: 135.00 USD, the line's amount in full", approvalPos, invPos),
		fmt.Sprintf("revenue 13500 booked by deal.approved at %d: 135.00 USD, the line's amount in full", approvalPos),
		fmt.Sprintf("rebate 675 booked by deal.approved at %d: 135.00 USD x 5.00%% = 6.75 -> 6.75 USD, half away from zero, per line", approvalPos),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("explained rows\n%s\nwant\n%s\ntext:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), text.String())
	}
	if !strings.Contains(text.String(), fmt.Sprintf("  replaces: row #%d/0\n", invPos)) ||
		!strings.Contains(text.String(), fmt.Sprintf("  booked by: #%d deal.approved ", approvalPos)) {
		t.Fatalf("explanation text lacks the replaced row or the cause:\n%s", text.String())
	}
}

// A customer name an OEM sent that a spreadsheet would run as a formula is
// written to the ledger CSV as text (a leading apostrophe); the JSON ledger
// keeps it as sent, and negative amounts stay numbers.
func TestLedgerCSVDefusesFormulas(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	hostile := domain.Customer{OEMAccountID: "C-1", Name: `=HYPERLINK("http://x.example","pay")`, Country: "US", Domain: "x.example"}
	evs := []domain.Event{enroll("var-1")}
	evs = append(evs, registerAndApprove("d-1", "var-1", hostile)...)
	evs = append(evs, invoice("HP-1", "2026-02-14", hostile, 100), creditMemo("HP-CM-1", "HP-1", "2026-02-20", hostile, 40))
	runUntil(t, e, e.appendEvents(t, evs...))
	rd := attribution.NewReader(e.pool)
	var out bytes.Buffer
	if _, err := rd.WriteLedgerCSV(ctx, &out, "", ""); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := func(name string) int { return slices.Index(attribution.LedgerCSVHeader, name) }
	var negative bool
	for _, r := range recs[1:] {
		if got := r[col("customer")]; got != "'"+hostile.Name {
			t.Errorf("customer cell %q, want the name behind an apostrophe", got)
		}
		negative = negative || strings.HasPrefix(r[col("amount_minor")], "-")
	}
	if len(recs) < 3 || !negative {
		t.Fatalf("want an invoice's and a credit memo's (negative) lines, got %q", recs)
	}
	var lines []attribution.LedgerLine
	if _, err := rd.Ledger(ctx, "", "", func(l attribution.LedgerLine) error { lines = append(lines, l); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(lines) == 0 || lines[0].Customer != hostile.Name {
		t.Errorf("ledger lines keep the name as sent: %+v", lines)
	}
}
