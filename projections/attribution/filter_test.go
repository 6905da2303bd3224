package attribution_test

import (
	"context"
	"testing"

	"dealcredit/internal/genlog"
	"dealcredit/projections/attribution"
	"dealcredit/projections/runner"
)

// Each read is one statement whose WHERE holds only the filters that are
// set: every combination of quarter and partner (and of partner and status
// for registrations) answers exactly the rows of the whole table that match,
// and every answer, an empty one included, reports the checkpoint's position.
func TestReaderFiltersAndPosition(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	head, err := genlog.Append(ctx, e.store, 600, 200, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Rebuild(ctx, e.pool, e.store, attribution.New(), 0, nil); err != nil {
		t.Fatal(err)
	}
	cp, err := runner.ReadCheckpoint(ctx, e.pool, attribution.Name)
	if err != nil || cp.Position != head {
		t.Fatalf("checkpoint %d (%v), want the head %d", cp.Position, err, head)
	}
	r := attribution.NewReader(e.pool)
	var all []attribution.LedgerLine
	if _, err := r.Ledger(ctx, "", "", func(l attribution.LedgerLine) error { all = append(all, l); return nil }); err != nil {
		t.Fatal(err)
	}
	quarters := map[string]bool{}
	for _, l := range all {
		quarters[l.Quarter] = true
	}
	if len(all) < 600 || len(quarters) < 2 {
		t.Fatalf("generated ledger too small to test filters: %d lines in %d quarters", len(all), len(quarters))
	}
	for _, q := range []string{"", "2026Q1", "2026Q2", "2030Q1"} {
		for _, p := range []string{"", "var-3", "nobody"} {
			want := 0
			for _, l := range all {
				if (q == "" || l.Quarter == q) && (p == "" || l.PartnerID == p) {
					want++
				}
			}
			got := 0
			pos, err := r.Ledger(ctx, q, p, func(l attribution.LedgerLine) error {
				if (q != "" && l.Quarter != q) || (p != "" && l.PartnerID != p) {
					t.Errorf("ledger(%q, %q) answered a line of %s %s", q, p, l.Quarter, l.PartnerID)
				}
				got++
				return nil
			})
			if err != nil || got != want || pos != head {
				t.Errorf("ledger(%q, %q) = %d lines at position %d (%v), want %d at %d", q, p, got, pos, err, want, head)
			}
			ss, st, err := r.Statements(ctx, p, q)
			pos = st.Position
			if err != nil || pos != head || st.Head != head || (p == "nobody" && len(ss) != 0) || (p == "var-3" && q == "2026Q1" && len(ss) != 1) {
				t.Errorf("statements(%q, %q) = %d rows at position %d (%v)", p, q, len(ss), pos, err)
			}
		}
	}
	regs, _, err := r.Registrations(ctx, attribution.RegistrationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []attribution.RegistrationFilter{{PartnerID: "var-3"}, {Status: "approved"}, {PartnerID: "var-3", Status: "approved"}, {Status: "nope"}} {
		want := 0
		for _, g := range regs {
			if (f.PartnerID == "" || g.PartnerID == f.PartnerID) && (f.Status == "" || g.Status == f.Status) {
				want++
			}
		}
		got, st, err := r.Registrations(ctx, f)
		if err != nil || len(got) != want || st.Position != head || st.Head != head {
			t.Errorf("registrations(%+v) = %d at position %d, head %d (%v), want %d at %d", f, len(got), st.Position, st.Head, err, want, head)
		}
	}
}

// The registrations page by deal id (After, Limit): the pages put together
// are the whole list, in order. The read model's state comes with every
// answer from the same statement, a stopped projection's event and an empty
// answer included.
func TestRegistrationPagesAndReadState(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	head, err := genlog.Append(ctx, e.store, 300, 200, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Rebuild(ctx, e.pool, e.store, attribution.New(), 0, nil); err != nil {
		t.Fatal(err)
	}
	r := attribution.NewReader(e.pool)
	all, _, err := r.Registrations(ctx, attribution.RegistrationFilter{})
	if err != nil || len(all) < 10 {
		t.Fatalf("%d registrations (%v), want at least 10", len(all), err)
	}
	for _, limit := range []int{1, 7, len(all), len(all) + 1} {
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			page, st, err := r.Registrations(ctx, attribution.RegistrationFilter{After: after, Limit: limit})
			if err != nil || st.Position != head || pages > len(all)+1 {
				t.Fatalf("limit %d after %q: %d rows at %d (%v)", limit, after, len(page), st.Position, err)
			}
			if len(page) > limit {
				t.Fatalf("limit %d: a page of %d", limit, len(page))
			}
			for _, g := range page {
				got = append(got, g.DealID)
			}
			if len(page) < limit {
				break
			}
			after = page[len(page)-1].DealID
		}
		if len(got) != len(all) {
			t.Fatalf("limit %d: %d deals in pages, want %d", limit, len(got), len(all))
		}
		for i, g := range all {
			if got[i] != g.DealID {
				t.Fatalf("limit %d: deal %d is %s, want %s", limit, i, got[i], g.DealID)
			}
		}
	}

	// A stopped projection: the state says so, with rows and without.
	if _, err := e.pool.Exec(ctx, `UPDATE projection_checkpoints SET status = 'failed', error = 'bad event', failed_position = $1,
		failed_type = 'deal.registered', failed_event_id = 'e-1' WHERE name = $2`, head+1, attribution.Name); err != nil {
		t.Fatal(err)
	}
	for _, f := range []attribution.RegistrationFilter{{}, {PartnerID: "nobody"}} {
		regs, st, err := r.Registrations(ctx, f)
		if err != nil || st.Position != head || st.Head != head || st.Status != runner.StateFailed || st.FailedPosition != head+1 ||
			st.FailedType != "deal.registered" || st.FailedEventID != "e-1" || st.Error != "bad event" {
			t.Errorf("registrations(%+v): %d rows, state %+v (%v)", f, len(regs), st.Checkpoint, err)
		}
	}
	ss, st, err := r.Statements(ctx, "nobody", "")
	if err != nil || len(ss) != 0 || st.Position != head || st.Status != runner.StateFailed {
		t.Errorf("statements of nobody: %d rows, state %+v (%v)", len(ss), st.Checkpoint, err)
	}
}
