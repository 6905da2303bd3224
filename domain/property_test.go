package domain_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"testing"

	"dealcredit/domain"
)

// randomLog builds a log from a fixed seed: partners, deals (some approved, some with
// engagements), invoices, revisions and credit memos, in one world.
func randomLog(t *testing.T, seed int64) *world {
	r := rand.New(rand.NewSource(seed))
	w := newWorld(t, "2026-01-05")
	segs := domain.SoftwareSegments
	customers := []domain.Customer{acme, {Name: "Globex GmbH", Country: "DE", Domain: "globex.example"}, {Name: "Initech Ltd", Country: "GB"}}
	for i := 0; i < 4; i++ {
		tier := domain.TierGold
		if i%2 == 1 {
			tier = domain.TierPlatinum
		}
		w.enroll(fmt.Sprintf("var-%d", i), "emea", tier)
	}
	w.fold(domain.FieldRepAssigned{RepID: "rep-1", Name: "R", Geography: "emea", SizeBand: "enterprise", On: domain.MustDate("2026-01-01")})
	for i := 0; i < 6; i++ {
		id := fmt.Sprintf("d-%d", i)
		c := customers[r.Intn(len(customers))]
		w.must(w.dealCmd(id, domain.Register{DealID: id, PartnerID: fmt.Sprintf("var-%d", r.Intn(4)), Customer: c, Geography: "emea", SizeBand: "enterprise",
			Segments: []domain.Segment{segs[r.Intn(3)]}, ExpectedValue: domain.Money{Amount: 100, Currency: "USD"}}))
		if r.Intn(3) > 0 {
			_, _ = w.dealCmd(id, domain.LogEngagement{Step: domain.StepPresalesSupport, OccurredOn: domain.MustDate("2026-01-05")})
		}
		if r.Intn(3) > 0 {
			_, _ = w.dealCmd(id, domain.Approve{}) // may lose a conflict: fine
		}
	}
	allSegs := []domain.Segment{domain.SegmentClientManagement, domain.SegmentServerManagement, domain.SegmentAssetManagement,
		domain.SegmentMaintenance, domain.SegmentSupport, domain.SegmentServices}
	for i := 0; i < 12; i++ {
		day := fmt.Sprintf("2026-0%d-%02d", 1+r.Intn(3), 6+r.Intn(20))
		var lines []domain.InvoiceLine
		for n := 1; n <= 1+r.Intn(4); n++ {
			lines = append(lines, line(n, allSegs[r.Intn(len(allSegs))], 1+r.Int63n(50), 1+r.Int63n(99999)))
		}
		inv := invoice(fmt.Sprintf("HP-%d", i), 1, day, lines...)
		inv.Customer = customers[r.Intn(len(customers))]
		w.fold(inv)
		switch r.Intn(4) {
		case 0: // revision
			inv.Revision = 2
			inv.Lines = append([]domain.InvoiceLine(nil), inv.Lines...)
			inv.Lines[0] = line(1, inv.Lines[0].Segment, inv.Lines[0].Quantity+1, inv.Lines[0].UnitPriceMinor)
			w.fold(inv)
		case 1: // partial credit memo
			m := inv
			m.Kind, m.CreditMemoFor, m.InvoiceNumber = domain.KindCreditMemo, inv.InvoiceNumber, "CM-"+inv.InvoiceNumber
			m.Lines = []domain.InvoiceLine{line(1, inv.Lines[0].Segment, 1, 1+r.Int63n(inv.Lines[0].UnitPriceMinor))}
			w.fold(m)
		}
		if i == 5 {
			w.on("2026-02-15")
			_, _ = w.dealCmd("d-0", domain.Approve{}) // a late claim, maybe
		}
	}
	return w
}

func TestPropertyDeterministicReplay(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		w := randomLog(t, seed)
		a, _ := json.Marshal(w.credits)
		p := domain.NewProgram()
		var again []domain.Credit
		for _, env := range w.log {
			o, err := p.Apply(env)
			if err != nil {
				t.Fatal(err)
			}
			again = append(again, o.Credits...)
		}
		b, _ := json.Marshal(again)
		if !bytes.Equal(a, b) {
			t.Fatalf("seed %d: replay differs", seed)
		}
	}
}

func TestPropertyCreditedNeverExceedsLine(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		w := randomLog(t, seed)
		type k struct {
			inv  string
			line int
			kind domain.CreditKind
			who  string
		}
		net := map[k]int64{}
		lineAmt := map[string]int64{}
		for _, env := range w.log {
			if inv, ok := env.Event.(domain.InvoiceReceived); ok && inv.Kind == domain.KindInvoice {
				for _, l := range inv.Lines {
					lineAmt[fmt.Sprintf("%s/%d", inv.InvoiceNumber, l.Line)] = l.AmountMinor
				}
			}
		}
		booked := map[string]int64{}
		for _, c := range w.credits {
			net[k{c.InvoiceNumber, c.Line, c.Kind, c.PartnerID}] += c.Amount.Amount
			if c.Kind != domain.CreditRebate && c.Kind != domain.CreditFieldRep {
				booked[fmt.Sprintf("%s/%d", c.InvoiceNumber, c.Line)] += c.Amount.Amount
			}
		}
		for key, v := range net {
			if v < 0 || v > lineAmt[fmt.Sprintf("%s/%d", key.inv, key.line)] {
				t.Fatalf("seed %d: %+v nets %d, line %d", seed, key, v, lineAmt[fmt.Sprintf("%s/%d", key.inv, key.line)])
			}
		}
		for key, v := range booked {
			if v > lineAmt[key] {
				t.Fatalf("seed %d: line %s books %d of %d", seed, key, v, lineAmt[key])
			}
		}
	}
}

func TestPropertyFullCreditMemoNetsToZero(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		w := randomLog(t, seed)
		for _, env := range append([]domain.Envelope(nil), w.log...) {
			inv, ok := env.Event.(domain.InvoiceReceived)
			if !ok || inv.Kind != domain.KindInvoice {
				continue
			}
			// Return everything that is not returned yet, in two memos (one partial).
			m := inv
			m.Kind, m.CreditMemoFor, m.Revision = domain.KindCreditMemo, inv.InvoiceNumber, 1
			m.InvoiceNumber = fmt.Sprintf("FULL-%s-r%d", inv.InvoiceNumber, inv.Revision)
			w.fold(m)
		}
		net := map[string]int64{}
		for _, c := range w.credits {
			net[fmt.Sprintf("%s/%d/%s/%s", c.InvoiceNumber, c.Line, c.Kind, c.PartnerID)] += c.Amount.Amount
		}
		for key, v := range net {
			if v != 0 {
				t.Fatalf("seed %d: %s nets %d after full credit memos", seed, key, v)
			}
		}
	}
}

func TestPropertyFoldInTwoHalvesEqualsOnePass(t *testing.T) {
	for seed := int64(1); seed <= 10; seed++ {
		w := randomLog(t, seed)
		one, _ := json.Marshal(w.credits)
		for _, cut := range []int{0, len(w.log) / 3, len(w.log) / 2, len(w.log)} {
			p := domain.NewProgram()
			var got []domain.Credit
			for _, half := range [][]domain.Envelope{w.log[:cut], w.log[cut:]} {
				for _, env := range half {
					o, err := p.Apply(env)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, o.Credits...)
				}
			}
			two, _ := json.Marshal(got)
			if !bytes.Equal(one, two) {
				t.Fatalf("seed %d cut %d differs", seed, cut)
			}
		}
		// Folding out of order is refused.
		p := domain.NewProgram()
		_, _ = p.Apply(w.log[1])
		if _, err := p.Apply(w.log[0]); err == nil {
			t.Fatal("out-of-order fold accepted")
		}
	}
}
