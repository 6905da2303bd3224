package scheduler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/api"
	"dealcredit/app"
	"dealcredit/cmd/dealcreditd/scheduler"
	"dealcredit/domain"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/pgdb"
	"dealcredit/internal/testkit/logtest"
	"dealcredit/projections"
	"dealcredit/projections/leads"
)

// clock is a test clock the test moves forward.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

type env struct {
	t     *testing.T
	ctx   context.Context
	clk   *clock
	store *pgstore.Store
	url   string
	pool  *pgxpool.Pool
	new   func(reg prometheus.Registerer) *scheduler.Scheduler
}

const (
	tokAdmin = "tok-admin-0123456789"
	tokCM    = "tok-cm-0123456789abc"
)

// newEnv starts the log, the read models (the projection runners), the API
// and a factory of schedulers, all on one test clock.
func newEnv(t *testing.T) *env {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dsn := logtest.MigratedDatabase(t)
	if err := pgdb.Migrate(ctx, dsn, api.Migrations(), api.VersionTable); err != nil {
		t.Fatal(err)
	}
	pool, err := pgdb.OpenPool(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store, err := pgstore.New(pool, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	clk := &clock{now: time.Date(2026, 5, 15, 12, 0, 0, 0, time.UTC)}
	registered := leads.RegisteredPartners(pool)
	h, err := api.NewServer(api.Deps{Store: store, Pool: pool, Clock: clk.Now, RegisteredPartners: registered, Tokens: api.Tokens{
		{Token: tokAdmin, Role: api.RoleAdmin}, {Token: tokCM, Role: api.RoleChannelManager}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	m := projections.NewManager(pool, store, nil, nil)
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	e := &env{t: t, ctx: ctx, clk: clk, store: store, url: srv.URL, pool: pool}
	e.new = func(reg prometheus.Registerer) *scheduler.Scheduler {
		s, err := scheduler.New(pool, app.New(store, app.WithClock(clk.Now), app.WithRegisteredPartners(registered)), scheduler.Options{Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return e
}

// call sends a request and fails unless it answers want.
func (e *env) call(method, path, token string, body any, want int) map[string]any {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s = %d, want %d: %s", method, path, resp.StatusCode, want, out)
	}
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	return m
}

// caughtUp waits until every read model reflects the log's head (the
// scheduler reads its due set there).
func (e *env) caughtUp() {
	e.t.Helper()
	head, err := e.store.Head(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var behind int
		err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM projection_checkpoints WHERE position < $1`, head).Scan(&behind)
		var n int
		if err == nil {
			err = e.pool.QueryRow(e.ctx, `SELECT count(*) FROM projection_checkpoints`).Scan(&n)
		}
		if err == nil && behind == 0 && n == len(projections.All()) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("read models did not reach position %d (err %v, %d behind)", head, err, behind)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

// count returns how many events of typ the log holds (with pred true).
func (e *env) count(typ string, pred func(domain.Event) bool) int {
	e.t.Helper()
	recs, err := e.store.ReadAll(e.ctx, 0, 100000)
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Type != typ {
			continue
		}
		ev, err := domain.Decode(r.Type, r.SchemaVersion, r.Data)
		if err != nil {
			e.t.Fatal(err)
		}
		if pred == nil || pred(ev) {
			n++
		}
	}
	return n
}

// gold enrolls a VAR in geo and promotes it to gold (one certification, one
// segment, the gold target); want is the promotion's status (422 when the
// seats are full: the partner is then waitlisted).
func (e *env) gold(id, geo string, want int) { e.promote(id, geo, domain.TierGold, want) }

// promote enrolls a VAR in geo and promotes it to tier with its requirements met.
func (e *env) promote(id, geo string, tier domain.Tier, want int) {
	e.t.Helper()
	e.call("POST", "/v1/partners", tokCM, map[string]any{"id": id, "name": id, "kind": "var", "geography": geo}, 201)
	engineers, segs, target := 1, []string{"client_management"}, 6_000_000
	if tier == domain.TierPlatinum {
		engineers, segs, target = 2, []string{"client_management", "server_management", "asset_management"}, 30_000_000
	}
	for i := range engineers {
		e.call("POST", "/v1/partners/"+id+"/certifications", tokCM, map[string]any{"engineer": fmt.Sprintf("%s-eng-%d", id, i),
			"segment": "client_management", "certified_on": "2026-05-01"}, 201)
	}
	e.call("POST", "/v1/partners/"+id+"/commitments", tokCM, map[string]any{"segments": segs, "quarterly_target_minor": target, "currency": "USD"}, 201)
	e.call("POST", "/v1/partners/"+id+"/tier", tokCM, map[string]any{"tier": string(tier), "reason": "requirements met"}, want)
}

// A lead Platinum and Gold both let lapse goes, by itself, to the
// Registered partner of the geography (rule 24; issue 15 item 5).
func TestRegisteredPartnerGetsLeadUpperTiersLetLapse(t *testing.T) {
	e := newEnv(t)
	e.promote("var-p", "us-west", domain.TierPlatinum, 200)
	e.promote("var-g", "us-west", domain.TierGold, 200)
	e.call("POST", "/v1/partners", tokCM, map[string]any{"id": "var-r", "name": "var-r", "kind": "var", "geography": "us-west"}, 201)
	e.call("POST", "/v1/partners", tokCM, map[string]any{"id": "var-x", "name": "var-x", "kind": "var", "geography": "emea"}, 201)
	e.caughtUp() // the registered partners are read from the leads read model
	lead := e.call("POST", "/v1/leads", tokCM, map[string]any{"id": "lead-r", "geography": "us-west", "source": "campaign",
		"source_name": "Spring webinar", "customer": map[string]any{"name": "Initech", "country": "US", "domain": "initech.example"}}, 201)
	s := e.new(nil)
	offers := []string{fmt.Sprint(lead["partner_id"], "/", lead["tier"])}
	for range 3 {
		e.clk.Advance(49 * time.Hour)
		e.caughtUp()
		if _, err := s.Tick(e.ctx); err != nil {
			t.Fatal(err)
		}
		e.caughtUp()
		var partner, tier string
		err := e.pool.QueryRow(e.ctx, `SELECT partner_id, tier FROM proj_leads.lead_offers WHERE lead_id = 'lead-r' AND outcome = 'offered'`).Scan(&partner, &tier)
		if err != nil {
			break // no open offer: unassigned
		}
		offers = append(offers, partner+"/"+tier)
	}
	want := []string{"var-p/platinum", "var-g/gold", "var-r/registered"}
	if fmt.Sprint(offers) != fmt.Sprint(want) {
		t.Fatalf("offers %v, want %v", offers, want)
	}
	if got := e.count("lead.unassigned", nil); got != 1 {
		t.Errorf("%d lead.unassigned, want 1 once var-r let it lapse too (var-x is in another geography)", got)
	}
	// The list: a channel manager sees the three offers; var-p sees the lead
	// closed with its own (expired) offer only; var-x was never offered it.
	for _, tc := range []struct {
		f       leads.Filter
		status  string
		partner string
		offers  string
	}{
		{leads.Filter{}, "unassigned", "", "[var-p/expired var-g/expired var-r/expired]"},
		{leads.Filter{PartnerID: "var-p", Own: true}, "closed", "", "[var-p/expired]"},
		{leads.Filter{PartnerID: "var-r", Own: true, Status: "closed"}, "closed", "", "[var-r/expired]"},
		{leads.Filter{PartnerID: "var-x", Own: true}, "", "", ""},
		{leads.Filter{Geography: "emea"}, "", "", ""},
		{leads.Filter{After: "lead-r"}, "", "", ""},
	} {
		tc.f.Limit = 10
		page, err := leads.NewReader(e.pool).Leads(e.ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if tc.status == "" {
			if len(page.Leads) != 0 {
				t.Errorf("%+v: %+v, want none", tc.f, page.Leads)
			}
			continue
		}
		if len(page.Leads) != 1 {
			t.Fatalf("%+v: %d leads, want 1", tc.f, len(page.Leads))
		}
		l := page.Leads[0]
		var got []string
		for _, o := range l.Offers {
			got = append(got, o.PartnerID+"/"+o.Outcome)
		}
		if l.LeadID != "lead-r" || l.Status != tc.status || l.PartnerID != tc.partner || fmt.Sprint(got) != tc.offers {
			t.Errorf("%+v: %s %s %q %v, want lead-r %s %q %s", tc.f, l.LeadID, l.Status, l.PartnerID, got, tc.status, tc.partner, tc.offers)
		}
	}
}

// The scheduler appends each due fact once: a lead offer lapsing (and
// cascading), a seat offer lapsing and a deal expiring, with two schedulers
// ticking at once and across a restart (a new scheduler on the same log).
func TestSchedulerAppendsDueFactsOnce(t *testing.T) {
	e := newEnv(t)
	// us-west: var-a and var-b hold gold seats; the lead goes to var-a first.
	e.gold("var-a", "us-west", 200)
	e.gold("var-b", "us-west", 200)
	deal := e.call("POST", "/v1/deals", tokCM, map[string]any{"partner_id": "var-a",
		"customer":  map[string]any{"name": "Acme", "country": "US", "domain": "acme.example"},
		"geography": "us-west", "segments": []string{"client_management"}, "expected_value_minor": 100_000, "currency": "USD"}, 201)["deal_id"].(string)
	e.call("POST", "/v1/deals/"+deal+"/approve", tokCM, nil, 200) // protected 2026-05-15 .. 2026-08-12
	lead := e.call("POST", "/v1/leads", tokCM, map[string]any{"id": "lead-1", "geography": "us-west", "source": "campaign",
		"source_name": "Spring webinar", "customer": map[string]any{"name": "Initech", "country": "US", "domain": "initech.example"}}, 201)
	if lead["partner_id"] != "var-a" {
		t.Fatalf("lead offered to %v, want var-a", lead["partner_id"])
	}
	// emea: one gold seat, held by g-1; var-c waits; g-1's demotion frees the
	// seat, offered to var-c through 2026-05-29.
	e.call("POST", "/v1/partners:grandfather", tokAdmin, map[string]any{"partners": []map[string]any{
		{"id": "g-1", "name": "G1", "kind": "var", "geography": "emea"}}}, 201)
	e.call("PUT", "/v1/geographies/emea/seats", tokAdmin, map[string]any{"platinum": 0, "gold": 1}, 200)
	e.gold("var-c", "emea", 422)
	e.call("POST", "/v1/partners/g-1/tier", tokAdmin, map[string]any{"tier": "registered", "reason": "left the program", "override": true}, 200)

	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	a, b := e.new(regA), e.new(regB)
	tick := func(s *scheduler.Scheduler) int {
		n, err := s.Tick(e.ctx)
		if err != nil {
			t.Fatalf("tick: %v", err)
		}
		return n
	}
	// Nothing is due yet.
	e.caughtUp()
	if n := tick(a); n != 0 {
		t.Fatalf("tick before anything is due appended %d facts", n)
	}

	// Two days later the lead offer lapsed: both schedulers tick at once,
	// the lapse and the offer to var-b are stored once.
	e.clk.Advance(49 * time.Hour)
	e.caughtUp()
	var wg sync.WaitGroup
	var na, nb int
	wg.Add(2)
	go func() { defer wg.Done(); na = tick(a) }()
	go func() { defer wg.Done(); nb = tick(b) }()
	wg.Wait()
	lapsed := func(ev domain.Event) bool { return ev.(domain.LeadDeclined).Expired }
	toB := func(ev domain.Event) bool { return ev.(domain.LeadOffered).PartnerID == "var-b" }
	if got := e.count("lead.declined", lapsed); got != 1 {
		t.Fatalf("after two schedulers: %d lapsed offers, want 1", got)
	}
	if got := e.count("lead.offered", toB); got != 1 || na+nb != 1 {
		t.Fatalf("after two schedulers: %d offers to var-b, want 1 (applied %d + %d)", got, na, nb)
	}
	if got := appliedLapses(t, regA, regB); got != 1 {
		t.Errorf("dealcredit_scheduler_applied_total{kind=lead_offer_lapse} over both = %v, want 1", got)
	}
	// The same tick again (a restart re-reading the due set) appends nothing.
	e.caughtUp()
	if n := tick(a) + tick(b); n != 0 {
		t.Fatalf("second tick appended %d facts", n)
	}

	// The schedulers stop; three months pass; a new one starts: var-b's
	// offer, the seat offer and the deal are all due, each appended once.
	e.clk.Advance(90 * 24 * time.Hour)
	c := e.new(prometheus.NewRegistry())
	e.caughtUp()
	if n := tick(c); n != 3 {
		t.Fatalf("restarted scheduler appended %d facts, want 3", n)
	}
	e.caughtUp()
	if n := tick(c) + tick(e.new(nil)); n != 0 {
		t.Fatalf("after the restart: %d more facts", n)
	}
	for typ, want := range map[string]int{"deal.expired": 1, "geo.seat_offer_lapsed": 1, "lead.unassigned": 1, "customerkey.released": 1} {
		if got := e.count(typ, nil); got != want {
			t.Errorf("%d %s events, want %d", got, typ, want)
		}
	}
	if got := e.count("lead.declined", lapsed); got != 2 {
		t.Errorf("%d lapsed lead offers, want 2 (var-a, var-b)", got)
	}
	// The read models show the outcome.
	d := e.call("GET", "/v1/deals/"+deal, tokCM, nil, 200)
	if d["status"] != "expired" {
		t.Errorf("deal status %v, want expired", d["status"])
	}
	var offered string
	if err := e.pool.QueryRow(e.ctx, `SELECT offered_to FROM proj_leads.seats WHERE geography = 'emea' AND tier = 'gold'`).Scan(&offered); err != nil || offered != "" {
		t.Errorf("emea gold seat still offered to %q (%v)", offered, err)
	}
}

// appliedLapses sums dealcredit_scheduler_applied_total{kind="lead_offer_lapse"} over regs.
func appliedLapses(t *testing.T, regs ...*prometheus.Registry) float64 {
	t.Helper()
	var sum float64
	for _, r := range regs {
		mfs, err := r.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "dealcredit_scheduler_applied_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "kind" && l.GetValue() == scheduler.KindLeadLapse {
						sum += m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	return sum
}
