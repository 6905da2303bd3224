package domain_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"dealcredit/domain"
)

// world drives the deciders and folds every accepted event through the codec into the
// per-aggregate states and one Program, like the API and the projections do.
type world struct {
	tb       testing.TB
	now      time.Time
	prog     *domain.Program
	pos      int64
	partners map[string]domain.PartnerState
	geos     map[string]domain.GeoState
	deals    map[string]domain.DealState
	res      map[string]domain.Reservation
	leads    map[string]domain.LeadState
	policy   domain.PolicyHistory
	quarters map[domain.Quarter]domain.QuarterState
	credits  []domain.Credit
	excs     []domain.Exception
	log      []domain.Envelope
	versions map[string]int64 // stream -> events folded
}

func newWorld(tb testing.TB, day string) *world {
	w := &world{tb: tb, now: domain.MustDate(day).Time().Add(10 * time.Hour), prog: domain.NewProgram(),
		partners: map[string]domain.PartnerState{}, geos: map[string]domain.GeoState{}, deals: map[string]domain.DealState{},
		res: map[string]domain.Reservation{}, leads: map[string]domain.LeadState{}, quarters: map[domain.Quarter]domain.QuarterState{}, versions: map[string]int64{}}
	tb.Cleanup(w.checkSpilled)
	return w
}

func (w *world) on(day string) *world {
	w.now = domain.MustDate(day).Time().Add(10 * time.Hour)
	return w
}

func (w *world) fold(evs ...domain.Event) []domain.Credit {
	w.tb.Helper()
	var out []domain.Credit
	for _, e := range evs {
		typ, v, data, err := domain.Encode(e)
		if err != nil {
			w.tb.Fatalf("encode %T: %v", e, err)
		}
		e, err = domain.Decode(typ, v, data)
		if err != nil {
			w.tb.Fatalf("decode %s: %v", typ, err)
		}
		w.pos++
		stream := domain.StreamOf(e)
		w.versions[stream]++
		env := domain.Envelope{Position: w.pos, EventID: fmt.Sprintf("ev-%d", w.pos), StreamID: stream, StreamVersion: w.versions[stream],
			Type: typ, OccurredAt: w.now, RecordedAt: w.now, Event: e}
		if inv, ok := e.(domain.InvoiceReceived); ok {
			env.EventID = domain.InvoiceEventID(inv.OEMID, inv.InvoiceNumber, inv.Revision)
		}
		w.log = append(w.log, env)
		o, err := w.prog.Apply(env)
		if err != nil {
			w.tb.Fatalf("apply %s: %v", typ, err)
		}
		out = append(out, o.Credits...)
		w.credits = append(w.credits, o.Credits...)
		w.excs = append(w.excs, o.Exceptions...)
		switch domain.Category(env.StreamID) {
		case "partner":
			id := env.StreamID[len("partner-"):]
			w.partners[id] = domain.EvolvePartner(w.partners[id], e)
		case "geo":
			id := env.StreamID[len("geo-"):]
			w.geos[id] = domain.EvolveGeo(w.geos[id], e)
		case "deal":
			id := env.StreamID[len("deal-"):]
			w.deals[id] = domain.EvolveDeal(w.deals[id], e)
		case "customerkey":
			w.res[env.StreamID] = domain.EvolveReservation(w.res[env.StreamID], e)
		case "lead":
			id := env.StreamID[len("lead-"):]
			w.leads[id] = domain.EvolveLead(w.leads[id], e)
		case "policy":
			w.policy = domain.EvolvePolicy(w.policy, e)
		case "quarter":
			q := e.(domain.QuarterClosed).Quarter
			w.quarters[q] = domain.EvolveQuarter(w.quarters[q], e)
		}
	}
	return out
}

// checkSpilled refolds the whole log through a spilling program, one event per batch,
// and fails when it differs from the in-memory fold: every story is also a test of the
// projection's bounded-memory path.
func (w *world) checkSpilled() {
	w.tb.Helper()
	want, _ := json.Marshal(domain.Outcome{Credits: w.credits, Exceptions: w.excs})
	got, _ := json.Marshal(spilled(w.tb, w.log, 1))
	if !bytes.Equal(want, got) {
		w.tb.Errorf("spilled fold differs from the in-memory fold\nwant %s\ngot  %s", want, got)
	}
}

func (w *world) partnerCmd(id string, geo string, cmd any) ([]domain.Event, error) {
	p := w.partners[id]
	if geo == "" {
		geo = p.Geography
	}
	evs, err := domain.DecidePartner(p, w.geos[geo], w.policy.At(domain.DateOf(w.now)), cmd, w.now)
	w.fold(evs...)
	return evs, err
}

func (w *world) dealCmd(id string, cmd any) ([]domain.Event, error) {
	d := w.deals[id]
	partnerID := d.PartnerID
	key := d.CustomerKey
	if r, ok := cmd.(domain.Register); ok {
		partnerID, key = r.PartnerID, domain.CustomerKey(r.Customer)
	}
	x := domain.DealContext{Partner: w.partners[partnerID], Reservation: w.res[domain.CustomerKeyStream(key)], Policy: w.policy.At(domain.DateOf(w.now))}
	if h, ok := cmd.(domain.HandOffService); ok {
		x.Recipient = w.partners[h.ToPartnerID]
	}
	evs, err := domain.DecideDeal(d, x, cmd, w.now)
	if err == nil {
		w.fold(evs...)
	}
	return evs, err
}

func (w *world) must(evs []domain.Event, err error) []domain.Event {
	w.tb.Helper()
	if err != nil {
		w.tb.Fatalf("unexpected refusal: %v", err)
	}
	return evs
}

// gold enrolls a VAR and makes it Gold (or Platinum) with the requirements met.
func (w *world) enroll(id, geo string, tier domain.Tier) {
	w.tb.Helper()
	w.must(w.partnerCmd(id, geo, domain.Enroll{PartnerID: id, Name: "Partner " + id, Kind: domain.KindVAR, Geography: geo}))
	if tier == domain.TierRegistered {
		return
	}
	segs := []domain.Segment{domain.SegmentClientManagement}
	target := domain.Money{Amount: 6_000_000, Currency: "USD"}
	engineers := 1
	if tier == domain.TierPlatinum {
		segs, target, engineers = domain.SoftwareSegments, domain.Money{Amount: 30_000_000, Currency: "USD"}, 2
	}
	for i := 0; i < engineers; i++ {
		w.must(w.partnerCmd(id, "", domain.Certify{PartnerID: id, Engineer: fmt.Sprintf("eng-%d", i), Segment: segs[0], CertifiedOn: domain.DateOf(w.now)}))
	}
	w.must(w.partnerCmd(id, "", domain.Commit{PartnerID: id, Segments: segs, QuarterlyTarget: target}))
	w.must(w.partnerCmd(id, "", domain.ChangeTier{PartnerID: id, Tier: tier, Reason: "requirements met"}))
}

var acme = domain.Customer{Name: "Acme Corp", Country: "US", Domain: "acme.example"}

func (w *world) register(dealID, partnerID string, segs ...domain.Segment) {
	w.tb.Helper()
	w.must(w.dealCmd(dealID, domain.Register{DealID: dealID, PartnerID: partnerID, Customer: acme, Geography: w.partners[partnerID].Geography,
		Segments: segs, ExpectedValue: domain.Money{Amount: 1_000_000, Currency: "USD"}, OEMID: "hp"}))
}

func invoice(number string, rev int, day string, lines ...domain.InvoiceLine) domain.InvoiceReceived {
	return domain.InvoiceReceived{OEMID: "hp", InvoiceNumber: number, Revision: rev, Kind: domain.KindInvoice,
		InvoiceDate: domain.MustDate(day), Currency: "USD", Customer: domain.Customer{OEMAccountID: "C-4711", Name: "ACME Corp.", Country: "US", Domain: "www.acme.example"},
		Lines: lines, Source: "oem.hp.invoices#1"}
}

func line(n int, seg domain.Segment, qty, price int64) domain.InvoiceLine {
	return domain.InvoiceLine{Line: n, SKU: "SKU-" + string(seg), Segment: seg, Quantity: qty, UnitPriceMinor: price, AmountMinor: qty * price}
}

func sum(cs []domain.Credit, kind domain.CreditKind, partner string) int64 {
	var t int64
	for _, c := range cs {
		if c.Kind == kind && (partner == "" || c.PartnerID == partner) {
			t += c.Amount.Amount
		}
	}
	return t
}

func wantCode(tb testing.TB, err error, code domain.Code, rule string) {
	tb.Helper()
	var de *domain.Error
	if !errors.As(err, &de) {
		tb.Fatalf("want *domain.Error %s/%s, got %v", code, rule, err)
	}
	if de.Code != code || (rule != "" && de.Rule != rule) {
		tb.Fatalf("want %s/%s, got %s/%s: %v", code, rule, de.Code, de.Rule, err)
	}
}
