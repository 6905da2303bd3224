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
			ss, pos, err := r.Statements(ctx, p, q)
			if err != nil || pos != head || (p == "nobody" && len(ss) != 0) || (p == "var-3" && q == "2026Q1" && len(ss) != 1) {
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
		got, pos, err := r.Registrations(ctx, f)
		if err != nil || len(got) != want || pos != head {
			t.Errorf("registrations(%+v) = %d at position %d (%v), want %d at %d", f, len(got), pos, err, want, head)
		}
	}
}
