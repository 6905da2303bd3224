package genlog_test

import (
	"fmt"
	"strings"
	"testing"

	"dealcredit/domain"
	"dealcredit/internal/genlog"
)

// fold folds a generated log in memory and returns the net credit per invoice line, kind,
// partner and booked quarter, and how many rows a late fact rebooked.
func fold(t *testing.T, n int, o genlog.Options) (map[string]int64, int) {
	t.Helper()
	p := domain.NewProgram()
	net, rebooked := map[string]int64{}, 0
	var pos int64
	err := genlog.EventsWith(n, o, func(evs ...domain.Event) error {
		for _, e := range evs {
			pos++
			out, err := p.Apply(domain.Envelope{Position: pos, EventID: fmt.Sprint(pos), StreamID: domain.StreamOf(e), Type: e.EventType(), Event: e})
			if err != nil {
				return err
			}
			for _, c := range out.Credits {
				net[fmt.Sprintf("%s/%d %s %s %s", c.InvoiceNumber, c.Line, c.Kind, c.PartnerID, c.Quarter)] += c.Amount.Amount
				if strings.Contains(c.Reason, "; rebooked: deal.approved") {
					rebooked++
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range net {
		if v == 0 {
			delete(net, k)
		}
	}
	return net, rebooked
}

// Approving some registrations only after their customer's first invoice changes no
// figure (the approvals are dated before the invoices), but books re-attributions.
func TestLateApprovalsGiveTheSameFigures(t *testing.T) {
	want, none := fold(t, 3000, genlog.Options{})
	got, rebooked := fold(t, 3000, genlog.Options{LatePercent: 10})
	if none != 0 || rebooked == 0 {
		t.Fatalf("rebooked rows: %d on time, %d late", none, rebooked)
	}
	if len(got) != len(want) {
		t.Fatalf("%d figures, %d on time", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: %d with late approvals, %d on time", k, got[k], v)
		}
	}
}
