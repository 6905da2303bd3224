package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/app"
	"dealcredit/consumers/ingest"
	"dealcredit/consumers/oemfeed"
	"dealcredit/domain"
	"dealcredit/projections/runner"
)

// testClock is the command layer's business clock, set by the test.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

var channel = app.Meta{Actor: "channel:greg", Source: "ingest test"}

// feedWorld is a log (Postgres), the ingest of OEM hp (embedded JetStream) and
// the command layer on a settable clock: facts arrive through the feed and
// through the commands, in the order a test chooses, each one stored before
// the next is sent.
type feedWorld struct {
	t     *testing.T
	e     *env
	js    jetstream.JetStream
	svc   *app.Service
	clock *testClock
	deal  string
}

func newFeedWorld(t *testing.T) *feedWorld {
	t.Helper()
	e := mustEnv(t)
	c, _ := e.consumer(t, prometheus.NewRegistry(), ingest.Options{AckWait: 30 * time.Second}, "hp")
	_, js := e.connect(t)
	run(t, c)
	clk := &testClock{now: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)}
	w := &feedWorld{t: t, e: e, js: js, svc: app.New(e.store, app.WithClock(clk.Now)), clock: clk}
	ctx := context.Background()
	w.ok(w.svc.EnrollPartner(ctx, channel, domain.Enroll{PartnerID: "hp", Name: "HP", Kind: domain.KindOEM, Geography: "emea"}))
	w.ok(w.svc.EnrollPartner(ctx, channel, domain.Enroll{PartnerID: "var-a", Name: "VAR A", Kind: domain.KindVAR, Geography: "emea"}))
	w.ok(w.svc.Certify(ctx, channel, domain.Certify{PartnerID: "var-a", Engineer: "eng-0", Segment: domain.SegmentClientManagement,
		CertifiedOn: domain.DateOf(clk.Now())}))
	w.ok(w.svc.Commit(ctx, channel, domain.Commit{PartnerID: "var-a", Segments: []domain.Segment{domain.SegmentClientManagement},
		QuarterlyTarget: domain.Money{Amount: 6_000_000, Currency: "USD"}}))
	w.ok(w.svc.ChangeTier(ctx, channel, domain.ChangeTier{PartnerID: "var-a", Tier: domain.TierGold, Reason: "requirements met"}))
	res, err := w.svc.RegisterDeal(ctx, channel, domain.Register{PartnerID: "var-a", Customer: acme.domain(), Geography: "emea",
		Segments: []domain.Segment{domain.SegmentClientManagement}, ExpectedValue: domain.Money{Amount: 1_000_000, Currency: "USD"}})
	w.ok(res, err)
	w.deal = res.ID
	return w
}

func (w *feedWorld) ok(_ any, err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatalf("command refused: %v", err)
	}
}

type feedCustomer oemfeed.Customer

var acme = feedCustomer{OEMAccountID: "C-1", Name: "Acme Corp", Country: "US", Domain: "acme.example"}

func (c feedCustomer) domain() domain.Customer {
	return domain.Customer{Name: c.Name, Country: c.Country, Domain: c.Domain}
}

// send publishes m (with its Nats-Msg-Id) and waits until the ingest has
// handled it (the consumer's ack floor reaches it: nothing pending is not
// enough, as the consumer may not count the message yet).
func (w *feedWorld) send(m oemfeed.Message) {
	w.t.Helper()
	m.Schema, m.OEMID, m.Customer = oemfeed.SchemaV1, "hp", oemfeed.Customer(acme)
	b, err := json.Marshal(m)
	if err != nil {
		w.t.Fatal(err)
	}
	msg := &nats.Msg{Subject: oemfeed.Subject("hp"), Data: b, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, oemfeed.MsgID("hp", m.InvoiceNumber, m.Revision))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := w.js.PublishMsg(ctx, msg)
	if err != nil {
		w.t.Fatalf("publish %s r%d: %v", m.InvoiceNumber, m.Revision, err)
	}
	// Handled: acknowledged by the ingest (stored or dead-lettered), which the
	// consumer's ack floor says once it reaches the message's sequence.
	eventually(w.t, 30*time.Second, m.InvoiceNumber+" handled", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := w.js.Consumer(ctx, ingest.StreamName("hp"), "dealcredit-ingest")
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.AckFloor.Stream >= ack.Sequence && drained(w.t, w.js, "hp")
	})
}

// figures folds the whole log and returns the net credits per invoice line
// and kind, and the statement totals per partner, quarter and currency, as
// sorted text.
func (w *feedWorld) figures() string {
	w.t.Helper()
	recs, err := w.e.store.ReadAll(context.Background(), 0, 100000)
	if err != nil {
		w.t.Fatal(err)
	}
	p := domain.NewProgram()
	perLine, totals := map[string]int64{}, map[string]int64{}
	for _, r := range recs {
		env, err := runner.Decode(r)
		if err != nil {
			w.t.Fatalf("decode %s at %d: %v", r.Type, r.Position, err)
		}
		o, err := p.Apply(env)
		if err != nil {
			w.t.Fatalf("apply %s at %d: %v", r.Type, r.Position, err)
		}
		for _, c := range o.Credits {
			perLine[fmt.Sprintf("%s/%d %s %s %s %s", c.InvoiceNumber, c.Line, c.Kind, c.PartnerID, c.Quarter, c.Amount.Currency)] += c.Amount.Amount
			totals[fmt.Sprintf("total %s %s %s %s adj=%t", c.Kind, c.PartnerID, c.Quarter, c.Amount.Currency, c.Adjustment)] += c.Amount.Amount
		}
	}
	var lines []string
	for _, m := range []map[string]int64{perLine, totals} {
		for k, v := range m {
			if v != 0 {
				lines = append(lines, fmt.Sprintf("%s = %d", k, v))
			}
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func doc(number string, rev int, day string, currency string, amount int64) oemfeed.Message {
	return oemfeed.Message{InvoiceNumber: number, Revision: rev, Kind: oemfeed.KindInvoice, InvoiceDate: day, Currency: currency,
		Lines: []oemfeed.Line{{Line: 1, SKU: "ALT-CMS-100", Segment: "client_management", Quantity: 1, UnitPriceMinor: amount, AmountMinor: amount}}}
}

func creditMemo(number, forInvoice, day, currency string, amount int64) oemfeed.Message {
	m := doc(number, 1, day, currency, amount)
	m.Kind, m.CreditMemoFor = oemfeed.KindCreditMemo, forInvoice
	return m
}

// TestFeedArrivalOrderGivesSameCredits delivers one set of facts (an
// invoice's two revisions, credit memos, invoices in USD, EUR, JPY and KWD,
// the deal's approval and, later, its expiry) in several arrival orders
// through the feed and the command layer: the folded log gives the same
// credits and statement totals every time. One invoice, dated within the
// registration, arrives after it expired in some orders: the VAR keeps its
// credit. The orders keep causality only (the approval before the expiry).
func TestFeedArrivalOrderGivesSameCredits(t *testing.T) {
	type step struct {
		name string
		do   func(w *feedWorld)
	}
	steps := []step{
		{"INV-1 r1", func(w *feedWorld) { w.send(doc("INV-1", 1, "2026-02-10", "USD", 1_000_000)) }},
		{"INV-1 r2", func(w *feedWorld) { w.send(doc("INV-1", 2, "2026-02-10", "USD", 1_200_000)) }},
		{"CM-1", func(w *feedWorld) { w.send(creditMemo("CM-1", "INV-1", "2026-02-20", "USD", 300_000)) }},
		{"INV-2 EUR", func(w *feedWorld) { w.send(doc("INV-2", 1, "2026-03-01", "EUR", 500_000)) }},
		{"CM-2 EUR", func(w *feedWorld) { w.send(creditMemo("CM-2", "INV-2", "2026-03-05", "EUR", 100_000)) }},
		{"INV-3 JPY", func(w *feedWorld) { w.send(doc("INV-3", 1, "2026-03-30", "JPY", 70_000)) }},
		{"INV-4 KWD", func(w *feedWorld) { w.send(doc("INV-4", 1, "2026-02-28", "KWD", 1_234_567)) }},
		{"CM-3 past INV-4", func(w *feedWorld) { w.send(creditMemo("CM-3", "INV-4", "2026-03-02", "KWD", 2_000_000)) }},
		{"CM-9 for no invoice", func(w *feedWorld) { w.send(creditMemo("CM-9", "INV-404", "2026-03-02", "USD", 5_000)) }},
		{"INV-6 r1", func(w *feedWorld) { w.send(doc("INV-6", 1, "2026-02-12", "USD", 10_000)) }},
		{"INV-6 r2 adds line 2", func(w *feedWorld) {
			m := doc("INV-6", 2, "2026-02-12", "USD", 10_000)
			m.Lines = append(m.Lines, oemfeed.Line{Line: 2, SKU: "ALT-CMS-200", Segment: "client_management", Quantity: 2, UnitPriceMinor: 20_000, AmountMinor: 40_000})
			w.send(m)
		}},
		{"CM-6 on line 2", func(w *feedWorld) {
			m := creditMemo("CM-6", "INV-6", "2026-02-13", "USD", 20_000)
			m.Lines[0].Line, m.Lines[0].SKU = 2, "ALT-CMS-200"
			w.send(m)
		}},
		{"approve", func(w *feedWorld) {
			w.clock.set(time.Date(2026, 1, 5, 11, 0, 0, 0, time.UTC))
			w.ok(w.svc.ApproveDeal(context.Background(), channel, w.deal))
		}},
		{"expire", func(w *feedWorld) {
			w.clock.set(time.Date(2026, 4, 20, 10, 0, 0, 0, time.UTC))
			w.ok(w.svc.ExpireDeal(context.Background(), app.Meta{Actor: "scheduler", Source: "ingest test"}, w.deal))
		}},
	}
	index := map[string]int{}
	for i, s := range steps {
		index[s.name] = i
	}
	orders := [][]int{}
	identity := make([]int, len(steps))
	for i := range identity {
		identity[i] = i
	}
	orders = append(orders, identity)
	reversed := make([]int, len(steps))
	for i := range reversed {
		reversed[i] = len(steps) - 1 - i
	}
	orders = append(orders, reversed)
	r := rand.New(rand.NewSource(13))
	for range 4 {
		o := append([]int(nil), identity...)
		r.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
		orders = append(orders, o)
	}
	for _, o := range orders { // causality: the approval before the expiry
		var ia, ie int
		for k, s := range o {
			switch s {
			case index["approve"]:
				ia = k
			case index["expire"]:
				ie = k
			}
		}
		if ie < ia {
			o[ia], o[ie] = o[ie], o[ia]
		}
	}

	var want, wantOrder string
	for _, o := range orders {
		var names []string
		for _, s := range o {
			names = append(names, steps[s].name)
		}
		order := strings.Join(names, ", ")
		t.Run(order, func(t *testing.T) {
			w := newFeedWorld(t)
			for _, s := range o {
				steps[s].do(w)
			}
			got := w.figures()
			for _, need := range []string{
				// 1,200,000 (INV-1 revision 2) - 300,000 (CM-1) + 10,000 + 40,000 (INV-6 revision 2) - 20,000 (CM-6)
				"total revenue var-a 2026Q1 USD adj=false = 930000",
				"total revenue var-a 2026Q1 EUR adj=false = 400000",
				"total revenue var-a 2026Q1 JPY adj=false = 70000", // dated within the registration, whenever it arrives
			} {
				if !strings.Contains(got, need) {
					t.Errorf("no %q in the credits:\n%s", need, got)
				}
			}
			if want == "" {
				want, wantOrder = got, order
				return
			}
			if got != want {
				t.Errorf("credits differ from those of order %s:\ngot:\n%s\nwant:\n%s", wantOrder, got, want)
			}
		})
	}
}

// TestFeedRevisionInAnotherCurrencyAnyOrder sends an invoice's revision 1 in
// USD, its revision 2 in EUR and a credit memo in EUR through the feed in
// every order: each is stored (none dead-lettered for its currency) and the
// folded log credits the EUR revision less the memo every time. Before, the
// order decided: revision 2 and the memo were dead-lettered when revision 1
// was stored first (USD credited), and stored when revision 2 came first
// (EUR credited).
func TestFeedRevisionInAnotherCurrencyAnyOrder(t *testing.T) {
	docs := []struct {
		name string
		msg  oemfeed.Message
	}{
		{"INV-5 r1 USD", doc("INV-5", 1, "2026-02-10", "USD", 1_000_000)},
		{"INV-5 r2 EUR", doc("INV-5", 2, "2026-02-10", "EUR", 900_000)},
		{"CM-5 EUR", creditMemo("CM-5", "INV-5", "2026-02-20", "EUR", 200_000)},
	}
	var want, wantOrder string
	for _, o := range [][]int{{0, 1, 2}, {1, 0, 2}, {2, 1, 0}, {0, 2, 1}, {1, 2, 0}, {2, 0, 1}} {
		var names []string
		for _, i := range o {
			names = append(names, docs[i].name)
		}
		order := strings.Join(names, ", ")
		t.Run(order, func(t *testing.T) {
			w := newFeedWorld(t)
			w.ok(w.svc.ApproveDeal(context.Background(), channel, w.deal))
			for _, i := range o {
				w.send(docs[i].msg)
			}
			if letters := dlq(t, w.js); len(letters) != 0 {
				t.Errorf("%d dead letters, the first: %q", len(letters), letters[0].Headers().Get(ingest.HeaderReason))
			}
			var stored []string
			for _, inv := range invoices(t, w.e.pool) {
				stored = append(stored, fmt.Sprintf("%s r%d %s", inv.InvoiceNumber, inv.Revision, inv.Currency))
			}
			sort.Strings(stored)
			if got, wantStored := strings.Join(stored, ", "), "CM-5 r1 EUR, INV-5 r1 USD, INV-5 r2 EUR"; got != wantStored {
				t.Errorf("stored %s, want %s", got, wantStored)
			}
			got := w.figures()
			// 900,000 (revision 2, the highest) - 200,000 (CM-5); nothing left in USD.
			if !strings.Contains(got, "total revenue var-a 2026Q1 EUR adj=false = 700000") || strings.Contains(got, "USD") {
				t.Errorf("credits:\n%s\nwant 700,000 EUR of revenue and nothing in USD", got)
			}
			if want == "" {
				want, wantOrder = got, order
				return
			}
			if got != want {
				t.Errorf("credits differ from those of order %s:\ngot:\n%s\nwant:\n%s", wantOrder, got, want)
			}
		})
	}
}
