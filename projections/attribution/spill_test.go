package attribution_test

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"dealcredit/domain"
	"dealcredit/projections/attribution"
	"dealcredit/projections/runner"

	"github.com/jackc/pgx/v5"
)

// richLog is a log that uses every part of the program's stored state:
// registrations matched by id, by domain and by name, exceptions claimed by
// late approvals after an engagement (by name and by domain), revisions,
// credit memos (some for invoices never received), two OEMs, a quarter
// close, a policy change, a tier change, field reps, a service handoff, an
// override that displaces a deal and a withdrawn deal.
func richLog(first bool) []domain.Event {
	day := domain.MustDate
	var evs []domain.Event
	if first {
		for p := 0; p < 4; p++ {
			evs = append(evs, enroll(fmt.Sprintf("var-%d", p)))
		}
		evs = append(evs, domain.FieldRepAssigned{RepID: "rep-1", Name: "R", Geography: "emea", On: day("2026-01-01")})
		for c := 0; c < 30; c += 3 {
			evs = append(evs, registerAndApprove(fmt.Sprintf("d-%d", c), fmt.Sprintf("var-%d", c%4), customer(c))...)
		}
		for c := 0; c < 30; c++ {
			inv := invoice(fmt.Sprintf("INV-%d", c), "2026-02-10", customer(c), int64(1+c))
			switch c % 9 { // the registered customers: c % 3 == 0
			case 3: // same domain, other name: matched by domain
				inv.Customer.Name = "Other name " + strconv.Itoa(c)
			case 0:
				inv.DealRegistrationID = fmt.Sprintf("d-%d", c)
			case 6: // no domain: matched by name and country
				inv.Customer.Domain = ""
			}
			evs = append(evs, inv)
			if c%4 == 1 { // Dell too, in the same batches
				d := invoice(fmt.Sprintf("DELL-%d", c), "2026-02-11", customer(c), int64(3+c))
				d.OEMID = "dell"
				evs = append(evs, d)
			}
		}
		other := invoice("INV-28-dom", "2026-02-10", customer(28), 4) // claimed by domain only
		other.Customer.Name = "Other name 28"
		return append(evs, other)
	}
	evs = append(evs,
		domain.TierChanged{PartnerID: "var-1", From: domain.TierGold, To: domain.TierPlatinum, Reason: "review", EffectiveOn: day("2026-03-01")},
		domain.PolicySet{Version: 2, EffectiveFrom: day("2026-04-01"), RebateBPS: map[domain.Tier]int64{domain.TierGold: 600, domain.TierPlatinum: 900},
			RegistrationDays: 90, MaxExtensions: 2, ClaimGraceDays: 30, PlatinumMinTarget: domain.Money{Amount: 25_000_000, Currency: "USD"},
			GoldMinTarget: domain.Money{Amount: 5_000_000, Currency: "USD"}, LeadAcceptHours: 48, FieldRepBPS: 10000, Reason: "v2"},
		domain.ServiceHandedOff{DealID: "d-6", OEMID: "hp", ToPartnerID: "var-2", On: day("2026-02-12")},
		domain.DealWithdrawn{DealID: "d-3", On: day("2026-04-01")},
	)
	override := registerAndApprove("d-x", "var-1", customer(0))
	evs = append(evs, override[0], domain.DealOverridden{DealID: "d-x", Reason: "strategic", Displaced: []string{"d-0"},
		ApprovedOn: day("2026-04-05"), ExpiresOn: day("2026-12-31"), PolicyVersion: 2, By: "cm"})
	for c := 1; c < 30; c += 3 { // late registrations: engagement before the invoice, approval within the grace days
		id := fmt.Sprintf("d-%d", c)
		reg := registerAndApprove(id, fmt.Sprintf("var-%d", c%4), customer(c))
		evs = append(evs, reg[0],
			domain.EngagementLogged{DealID: id, PartnerID: fmt.Sprintf("var-%d", c%4), Step: domain.StepPresalesSupport, OccurredOn: day("2026-02-01")},
			domain.DealApproved{DealID: id, ApprovedOn: day("2026-02-20"), ExpiresOn: day("2026-12-31"), PolicyVersion: 1, By: "cm"})
	}
	for c := 0; c < 30; c += 5 {
		inv := invoice(fmt.Sprintf("INV-%d", c), "2026-02-10", customer(c), int64(2+c))
		inv.Revision = 2
		evs = append(evs, inv)
	}
	evs = append(evs, domain.QuarterClosed{Quarter: domain.MustQuarter("2026Q1"), ClosedOn: day("2026-04-02"), By: "fin"})
	for c := 0; c < 30; c += 4 {
		evs = append(evs, creditMemo(fmt.Sprintf("CM-%d", c), fmt.Sprintf("INV-%d", c), "2026-04-10", customer(c), 1))
	}
	evs = append(evs, creditMemo("CM-X", "INV-NEVER", "2026-04-10", customer(1), 1))
	for c := 0; c < 30; c += 7 { // a later invoice of a customer whose exception was claimed
		evs = append(evs, invoice(fmt.Sprintf("INV-%d-b", c), "2026-04-12", customer(c), 3))
	}
	svc := invoice("INV-6-svc", "2026-04-12", customer(6), 1) // services of the handed-off deal
	svc.Lines[1].Segment, svc.Lines[1].SKU = domain.SegmentServices, "ALT-SVC-1"
	evs = append(evs, svc,
		invoice("INV-0-c", "2026-04-12", customer(0), 2), // the overriding deal's
		invoice("INV-3-c", "2026-04-12", customer(3), 2)) // the withdrawn deal's: an exception
	for c := 1; c < 30; c += 8 {
		m := creditMemo(fmt.Sprintf("DCM-%d", c), fmt.Sprintf("DELL-%d", c), "2026-04-15", customer(c), 1)
		m.OEMID = "dell"
		evs = append(evs, m)
	}
	// Late facts (business time): invoices dated ahead of what is recorded after them,
	// so a tier change, a policy version and a field rep re-attribute them, found by
	// partner key and by date; a credit memo that waits for its invoice; an invoice
	// booked unattributed before the approval that protects it.
	evs = append(evs,
		invoice("INV-1-ahead", "2026-06-10", customer(1), 5),
		creditMemo("CM-early", "INV-4-late", "2026-06-12", customer(4), 1),
		invoice("INV-4-late", "2026-06-05", customer(4), 3),
		domain.TierChanged{PartnerID: "var-1", From: domain.TierPlatinum, To: domain.TierGold, Reason: "review", EffectiveOn: day("2026-06-01")},
		domain.PolicySet{Version: 3, EffectiveFrom: day("2026-06-02"), RebateBPS: map[domain.Tier]int64{domain.TierGold: 650, domain.TierPlatinum: 950},
			RegistrationDays: 90, MaxExtensions: 2, ClaimGraceDays: 30, PlatinumMinTarget: domain.Money{Amount: 25_000_000, Currency: "USD"},
			GoldMinTarget: domain.Money{Amount: 5_000_000, Currency: "USD"}, LeadAcceptHours: 48, FieldRepBPS: 5000, Reason: "v3"},
		domain.FieldRepAssigned{RepID: "rep-2", Name: "S", Geography: "emea", On: day("2026-06-03")},
		invoice("INV-31-early", "2026-06-20", customer(31), 2),
	)
	evs = append(evs, registerAndApprove("d-31", "var-2", customer(31))...)
	return evs
}

type ledgerRow struct {
	Position          int64
	Seq               int
	OEM, Invoice      string
	Revision, Line    int
	Kind, Partner     string
	Registration      string
	Quarter           string
	Adjustment        bool
	Amount            int64
	Reason            string
	EventIDs          []string
	PolicyVersion     int
	AdjustsQuarter    string
	Customer, Segment string
	Currency          string
	Base, RateBPS     int64
	Returned          int64
	ReturnedBefore    int64
}

// TestStoredStateEqualsInMemoryFold runs the projection in batches of 4,
// restarting it halfway (it loads the program from its state tables), and
// compares every ledger line and exception with one in-memory fold of the
// same log.
func TestStoredStateEqualsInMemoryFold(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	half := e.appendEvents(t, richLog(true)...)
	runUntil(t, e, half)
	head := e.appendEvents(t, richLog(false)...)
	runUntil(t, e, head)

	recs, err := e.store.ReadAll(ctx, 0, int(head))
	if err != nil {
		t.Fatal(err)
	}
	p := domain.NewProgram()
	var want []ledgerRow
	wantExc := map[string]domain.Exception{}
	for _, r := range recs {
		env, err := runner.Decode(r)
		if err != nil {
			t.Fatal(err)
		}
		out, err := p.Apply(env)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range out.Credits {
			want = append(want, ledgerRow{r.Position, i, c.OEMID, c.InvoiceNumber, c.Revision, c.Line, string(c.Kind), c.PartnerID,
				c.RegistrationID, c.Quarter.String(), c.Adjustment, c.Amount.Amount, c.Reason, c.EventIDs, c.PolicyVersion,
				adjusts(c.AdjustsQuarter), c.Customer, string(c.Segment), c.Amount.Currency, c.Base, c.RateBPS, c.Returned,
				c.ReturnedBefore})
		}
		for _, x := range out.Exceptions {
			wantExc[fmt.Sprintf("%s/%s/%d", x.OEMID, x.InvoiceNumber, x.Line)] = x
		}
	}
	rows, err := e.pool.Query(ctx, `SELECT position, seq, oem_id, invoice_number, revision, line, kind, partner_id, registration_id,
		quarter, adjustment, amount_minor, reason, event_ids, policy_version, adjusts_quarter, customer, segment, currency,
		base_minor, rate_bps, returned_minor, returned_before_minor
		FROM proj_attribution.ledger ORDER BY position, seq`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ledgerRow])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("ledger has %d lines, the in-memory fold %d", len(got), len(want))
	}
	kinds := map[string]int{}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("ledger line %d differs:\ngot  %+v\nwant %+v", i, got[i], want[i])
		}
		kinds[want[i].Kind]++
	}
	var claimed, reversals int
	for _, w := range want {
		if w.Amount < 0 {
			reversals++
		}
	}
	rows, err = e.pool.Query(ctx, "SELECT oem_id, invoice_number, line, status, claimed_by FROM proj_attribution.exceptions")
	if err != nil {
		t.Fatal(err)
	}
	var oem, num, status, by string
	var line int
	n, err := pgx.ForEachRow(rows, []any{&oem, &num, &line, &status, &by}, func() error {
		x, ok := wantExc[fmt.Sprintf("%s/%s/%d", oem, num, line)]
		if !ok || x.Status != status || x.ClaimedBy != by {
			return fmt.Errorf("exception %s %s %d: %s %q, in-memory %+v", oem, num, line, status, by, x)
		}
		if status == "claimed" {
			claimed++
		}
		return nil
	})
	if err != nil || int(n.RowsAffected()) != len(wantExc) {
		t.Fatalf("exceptions: %d rows, want %d: %v", n.RowsAffected(), len(wantExc), err)
	}
	// The log exercised what it is meant to.
	if claimed == 0 || reversals == 0 || kinds["field_rep"] == 0 || kinds["unattributed"] == 0 || kinds["service"] == 0 {
		t.Fatalf("the log missed a case: claimed %d, negative lines %d, kinds %v", claimed, reversals, kinds)
	}
	cases := map[string]func(ledgerRow) bool{
		"credit to the overriding deal": func(r ledgerRow) bool { return r.Invoice == "INV-0-c" && r.Registration == "d-x" },
		"Dell credit memo":              func(r ledgerRow) bool { return r.OEM == "dell" && r.Amount < 0 },
		"policy v2":                     func(r ledgerRow) bool { return r.PolicyVersion == 2 && r.Kind == "rebate" },
		"re-attributed by a tier change": func(r ledgerRow) bool {
			return r.Invoice == "INV-1-ahead" && strings.Contains(r.Reason, "rebooked: partner.tier_changed")
		},
		"re-attributed by a policy version": func(r ledgerRow) bool {
			return r.Invoice == "INV-1-ahead" && r.PolicyVersion == 3 && strings.Contains(r.Reason, "rebooked: policy.set")
		},
		"re-attributed by a field rep": func(r ledgerRow) bool {
			return r.Invoice == "INV-4-late" && r.Partner == "rep-2" && strings.Contains(r.Reason, "rebooked: fieldrep.assigned")
		},
		"waiting credit memo applied": func(r ledgerRow) bool {
			return r.Invoice == "INV-4-late" && r.Amount < 0 && strings.Contains(r.Reason, "clawback: credit memo CM-early")
		},
		"matched by an approval recorded after the invoice": func(r ledgerRow) bool {
			return r.Invoice == "INV-31-early" && r.Kind == "revenue" && r.Registration == "d-31" && strings.Contains(r.Reason, "rebooked: deal.approved")
		},
		"claim by domain": func(r ledgerRow) bool {
			return r.Invoice == "INV-28-dom" && r.Kind == "revenue" && r.Registration == "d-28"
		},
	}
	for name, hit := range cases {
		found := false
		for _, r := range want {
			found = found || hit(r)
		}
		if !found {
			t.Errorf("the log missed a case: %s", name)
		}
	}
	// A build folds each batch while the one before is written (runner.Pipeliner):
	// in batches of 3, nearly every batch reads records the one before changed.
	for _, batch := range []int{3, 2500} {
		rep, err := runner.Verify(ctx, e.pool, e.store, batch, attribution.New())
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() {
			t.Fatalf("a pipelined build in batches of %d differs from the live tables:\n%s", batch, rep)
		}
	}
	var deals, invoices int
	if err := e.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM proj_attribution.state_deals),
		(SELECT count(*) FROM proj_attribution.state_invoices)`).Scan(&deals, &invoices); err != nil || deals != 22 || invoices < 40 {
		t.Fatalf("state tables hold %d deals and %d invoices (%v)", deals, invoices, err)
	}
}

func adjusts(q domain.Quarter) string {
	if q.IsZero() {
		return ""
	}
	return q.String()
}

// A rebuild loads tables without the readers' indexes; the swapped-in
// schema must have exactly the indexes of a new live one, and be logged.
func TestRebuildSwapsInLoggedIndexedTables(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	head := e.appendEvents(t, richLog(true)...)
	runUntil(t, e, head)
	indexes := func() []string {
		rows, err := e.pool.Query(ctx, `SELECT indexdef FROM pg_indexes WHERE schemaname = 'proj_attribution' ORDER BY indexname`)
		if err != nil {
			t.Fatal(err)
		}
		defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return defs
	}
	live := indexes()
	if err := runner.Rebuild(ctx, e.pool, e.store, attribution.New(), 5, nil); err != nil {
		t.Fatal(err)
	}
	rebuilt := indexes()
	if !reflect.DeepEqual(live, rebuilt) || len(live) < len(attribution.New().Indexes()) {
		t.Fatalf("indexes after rebuild:\n%v\nlive:\n%v", rebuilt, live)
	}
	// The swapped-in tables are crash-safe (logged).
	var unlogged, tables int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE c.relpersistence <> 'p'), count(*) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'proj_attribution' AND c.relkind IN ('r', 'i')`).
		Scan(&unlogged, &tables); err != nil || unlogged != 0 || tables < 10 {
		t.Fatalf("after rebuild: %d of %d tables and indexes not logged (%v)", unlogged, tables, err)
	}
}
