package app_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"dealcredit/app"
	"dealcredit/domain"
	"dealcredit/eventstore"
	"dealcredit/internal/testkit/logtest"
)

// clock is a settable clock for the service.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// fixture is a command service on a real, migrated Postgres log.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	store eventstore.Store
	clock *clock
	svc   *app.Service
}

// start is the fixture's business time: a Monday morning.
var start = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

func newFixture(t *testing.T, opts ...app.Option) *fixture {
	t.Helper()
	log := logtest.New(t)
	f := &fixture{t: t, ctx: context.Background(), store: log.Store, clock: &clock{now: start}}
	f.svc = app.New(log.Store, append([]app.Option{app.WithClock(f.clock.Now)}, opts...)...)
	return f
}

// channel is a channel manager's command metadata.
var channel = app.Meta{Actor: "channel:greg", Source: "app test"}

// partnerMeta is the metadata of a partner acting for itself.
func partnerMeta(id string) app.Meta {
	return app.Meta{Actor: "partner:" + id, Source: "app test", Partner: id}
}

// ok fails the test when a command was refused.
func (f *fixture) ok(_ any, err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatalf("unexpected refusal: %v", err)
	}
}

// partner enrolls id in geo and, through the commands a partner takes,
// brings it to tier (as domain's test harness does).
func (f *fixture) partner(id, geo string, kind domain.PartnerKind, tier domain.Tier) {
	f.t.Helper()
	f.ok(f.svc.EnrollPartner(f.ctx, channel, domain.Enroll{PartnerID: id, Name: "Partner " + id, Kind: kind, Geography: geo}))
	if tier == domain.TierRegistered {
		return
	}
	segs := []domain.Segment{domain.SegmentClientManagement}
	target := domain.Money{Amount: 6_000_000, Currency: "USD"}
	engineers := 1
	if tier == domain.TierPlatinum {
		segs, target, engineers = domain.SoftwareSegments, domain.Money{Amount: 30_000_000, Currency: "USD"}, 2
	}
	for i := range engineers {
		f.ok(f.svc.Certify(f.ctx, channel, domain.Certify{PartnerID: id, Engineer: fmt.Sprintf("eng-%d", i), Segment: segs[0],
			CertifiedOn: domain.DateOf(f.clock.Now())}))
	}
	f.ok(f.svc.Commit(f.ctx, channel, domain.Commit{PartnerID: id, Segments: segs, QuarterlyTarget: target}))
	f.ok(f.svc.ChangeTier(f.ctx, channel, domain.ChangeTier{PartnerID: id, Tier: tier, Reason: "requirements met"}))
}

// customer returns a customer of its own name.
func customer(name string) domain.Customer {
	return domain.Customer{Name: name, Country: "US", Domain: "example.com"}
}

// register registers a client-management deal of partnerID for cust and returns its id.
func (f *fixture) register(partnerID string, cust domain.Customer) string {
	f.t.Helper()
	res, err := f.svc.RegisterDeal(f.ctx, partnerMeta(partnerID), domain.Register{Customer: cust, Geography: "emea",
		Segments: []domain.Segment{domain.SegmentClientManagement}, ExpectedValue: domain.Money{Amount: 1_000_000, Currency: "USD"}})
	f.ok(res, err)
	return res.ID
}

// streamTypes lists the event types stored in stream.
func (f *fixture) streamTypes(stream string) []string {
	f.t.Helper()
	recs, err := f.store.ReadStream(f.ctx, stream, 0)
	if err != nil {
		f.t.Fatalf("read %s: %v", stream, err)
	}
	out := []string{}
	for _, r := range recs {
		out = append(out, r.Type)
	}
	return out
}

// outcome checks a command's outcome: the event types it reports, or the
// domain error code and rule (and field) it was refused with.
type outcome struct {
	events []string
	code   domain.Code
	rule   string
	field  string
}

func (o outcome) check(t *testing.T, res app.Result, err error) {
	t.Helper()
	if o.code != "" {
		var de *domain.Error
		if !errors.As(err, &de) {
			t.Fatalf("err = %v, want a domain error %s", err, o.code)
		}
		if de.Code != o.code || (o.rule != "" && de.Rule != o.rule) || (o.field != "" && de.Field != o.field) {
			t.Fatalf("refused with %s/%s on %q (%v), want %s/%s on %q", de.Code, de.Rule, de.Field, de, o.code, o.rule, o.field)
		}
		if len(res.Events) != 0 {
			t.Fatalf("a refusal reports events %v", res.EventTypes())
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected refusal: %v", err)
	}
	if got := res.EventTypes(); !slices.Equal(got, o.events) {
		t.Fatalf("events %v, want %v", got, o.events)
	}
	if res.Position == 0 {
		t.Fatal("no log position for appended events")
	}
}
