package app_test

import (
	"slices"
	"testing"

	"dealcredit/app"
	"dealcredit/domain"
)

// TestDealCommands runs every deal command through the service on a real
// log: what it appends, and what it refuses with which rule.
func TestDealCommands(t *testing.T) {
	f := newFixture(t)
	f.partner("var-1", "emea", domain.KindVAR, domain.TierGold)
	f.partner("var-2", "emea", domain.KindSI, domain.TierGold)
	f.partner("reg-1", "emea", domain.KindVAR, domain.TierRegistered)
	reg := func(cust string) func() string { return func() string { return f.register("var-1", customer(cust)) } }
	approved := func(cust string) func() string {
		return func() string {
			id := f.register("var-1", customer(cust))
			f.ok(f.svc.ApproveDeal(f.ctx, channel, id))
			return id
		}
	}
	// conflicted: var-1's deal is approved, var-2's registration for the same customer conflicts.
	conflicted := func(cust string) func() string {
		return func() string {
			approved(cust)()
			return f.register("var-2", customer(cust))
		}
	}
	register := func(md app.Meta, r domain.Register) func(string) (app.Result, error) {
		return func(string) (app.Result, error) {
			r.Geography, r.ExpectedValue = "emea", domain.Money{Amount: 1_000_000, Currency: "USD"}
			if r.Segments == nil {
				r.Segments = []domain.Segment{domain.SegmentClientManagement}
			}
			res, err := f.svc.RegisterDeal(f.ctx, md, r)
			return res.Result, err
		}
	}
	deal := func(do func(id string) (app.DealDone, error)) func(string) (app.Result, error) {
		return func(id string) (app.Result, error) {
			res, err := do(id)
			return res.Result, err
		}
	}
	tests := []struct {
		name  string
		given func() string // the deal the command acts on
		when  func(id string) (app.Result, error)
		want  outcome
	}{
		{"register for itself", nil, register(partnerMeta("var-1"), domain.Register{Customer: customer("Initech")}),
			outcome{events: []string{"deal.registered"}}},
		{"register for another partner", nil, register(partnerMeta("var-1"), domain.Register{PartnerID: "var-2", Customer: customer("Initech")}),
			outcome{code: domain.Forbidden, rule: "partner.own", field: "partner_id"}},
		{"register as registered tier", nil, register(partnerMeta("reg-1"), domain.Register{Customer: customer("Initech")}),
			outcome{code: domain.Unprocessable, rule: "registration.tier"}},
		{"register for an unknown partner", nil, register(channel, domain.Register{PartnerID: "nobody", Customer: customer("Initech")}),
			outcome{code: domain.NotFound, rule: "partner.exists"}},
		{"register with a bad partner id", nil, register(channel, domain.Register{PartnerID: "Bad Id", Customer: customer("Initech")}),
			outcome{code: domain.Invalid, field: "partner_id"}},
		{"register with a bad segment", nil, register(partnerMeta("var-1"), domain.Register{Customer: customer("Initech"), Segments: []domain.Segment{"golf"}}),
			outcome{code: domain.Invalid, field: "segments[0]"}},
		{"register a protected customer", func() string { approved("Globex")(); return "" }, register(partnerMeta("var-2"), domain.Register{Customer: customer("Globex")}),
			outcome{events: []string{"deal.registered", "deal.conflicted"}}},
		{"approve", reg("Umbrella"), deal(func(id string) (app.DealDone, error) { return f.svc.ApproveDeal(f.ctx, channel, id) }),
			outcome{events: []string{"deal.approved", "customerkey.reserved"}}},
		{"approve twice", approved("Hooli"), deal(func(id string) (app.DealDone, error) { return f.svc.ApproveDeal(f.ctx, channel, id) }),
			outcome{code: domain.Conflict, rule: "registration.status"}},
		{"approve over a protected registration", conflicted("Stark"), deal(func(id string) (app.DealDone, error) { return f.svc.ApproveDeal(f.ctx, channel, id) }),
			outcome{code: domain.Conflict, rule: "conflict.first_approved_wins"}},
		{"override with a reason", conflicted("Wayne"), deal(func(id string) (app.DealDone, error) { return f.svc.OverrideDeal(f.ctx, channel, id, "ran the POC") }),
			outcome{events: []string{"deal.overridden", "customerkey.reserved"}}},
		{"override without a reason", conflicted("Tyrell"), deal(func(id string) (app.DealDone, error) { return f.svc.OverrideDeal(f.ctx, channel, id, "") }),
			outcome{code: domain.Invalid, field: "reason"}},
		{"reject", reg("Soylent"), deal(func(id string) (app.DealDone, error) { return f.svc.RejectDeal(f.ctx, channel, id, "duplicate") }),
			outcome{events: []string{"deal.rejected"}}},
		{"withdraw an approved deal", approved("Cyberdyne"), deal(func(id string) (app.DealDone, error) { return f.svc.WithdrawDeal(f.ctx, partnerMeta("var-1"), id) }),
			outcome{events: []string{"deal.withdrawn", "customerkey.released"}}},
		{"withdraw another partner's deal", reg("Aperture"), deal(func(id string) (app.DealDone, error) { return f.svc.WithdrawDeal(f.ctx, partnerMeta("var-2"), id) }),
			outcome{code: domain.NotFound, field: "id"}},
		{"a command on another owner's deal", reg("Massive"), deal(func(id string) (app.DealDone, error) {
			return f.svc.OnDeal(f.ctx, channel, app.DealCommand{DealID: id, Owner: "var-2", Cmd: domain.Withdraw{By: "partner:var-2"}})
		}), outcome{code: domain.NotFound, field: "id"}},
		{"extend", approved("Oscorp"), deal(func(id string) (app.DealDone, error) { return f.svc.ExtendDeal(f.ctx, channel, id) }),
			outcome{events: []string{"deal.extended", "customerkey.reserved"}}},
		{"log an engagement", reg("Vandelay"), deal(func(id string) (app.DealDone, error) {
			return f.svc.LogEngagement(f.ctx, partnerMeta("var-1"), id, domain.LogEngagement{Step: domain.StepDeployment, OccurredOn: domain.DateOf(start)})
		}), outcome{events: []string{"deal.engagement_logged"}}},
		{"log an unknown step", reg("Wonka"), deal(func(id string) (app.DealDone, error) {
			return f.svc.LogEngagement(f.ctx, partnerMeta("var-1"), id, domain.LogEngagement{Step: "golf", OccurredOn: domain.DateOf(start)})
		}), outcome{code: domain.Invalid, field: "step"}},
		{"hand off the service side", approved("Acme"), deal(func(id string) (app.DealDone, error) {
			return f.svc.HandOffService(f.ctx, channel, id, domain.HandOffService{OEMID: "hp", ToPartnerID: "var-2"})
		}), outcome{events: []string{"deal.service_handoff"}}},
		{"hand off to a partner not enrolled", approved("Bluth"), deal(func(id string) (app.DealDone, error) {
			return f.svc.HandOffService(f.ctx, channel, id, domain.HandOffService{OEMID: "hp", ToPartnerID: "nobody"})
		}), outcome{code: domain.Unprocessable, rule: "partner.exists", field: "to_partner_id"}},
		{"approve a deal that does not exist", nil, deal(func(string) (app.DealDone, error) { return f.svc.ApproveDeal(f.ctx, channel, "d-404") }),
			outcome{code: domain.NotFound, field: "id"}},
		{"approve an id too long for a deal", nil, deal(func(string) (app.DealDone, error) {
			return f.svc.ApproveDeal(f.ctx, channel, string(make([]byte, 65)))
		}), outcome{code: domain.NotFound, field: "id"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := ""
			if tc.given != nil {
				id = tc.given()
			}
			var before []string
			if id != "" {
				before = f.streamTypes(domain.DealStream(id))
			}
			res, err := tc.when(id)
			tc.want.check(t, res, err)
			if id == "" || tc.want.code != "" {
				if id != "" && !slices.Equal(f.streamTypes(domain.DealStream(id)), before) {
					t.Fatalf("a refused command changed the deal's stream")
				}
				return
			}
			// The deal's own events are in its stream, after what was there.
			var own []string
			for _, typ := range tc.want.events {
				if typ != "customerkey.reserved" && typ != "customerkey.released" {
					own = append(own, typ)
				}
			}
			if got := f.streamTypes(domain.DealStream(id)); !slices.Equal(got, append(before, own...)) {
				t.Fatalf("deal stream %v, want %v then %v", got, before, own)
			}
		})
	}
}

// TestDealReadsAsTheCallerMaySee: a partner reads its own deals only.
func TestDealReadsAsTheCallerMaySee(t *testing.T) {
	f := newFixture(t)
	f.partner("var-1", "emea", domain.KindVAR, domain.TierGold)
	f.partner("var-2", "emea", domain.KindVAR, domain.TierGold)
	id := f.register("var-1", customer("Initech"))
	for _, tc := range []struct {
		md    app.Meta
		found bool
	}{{channel, true}, {partnerMeta("var-1"), true}, {partnerMeta("var-2"), false}} {
		d, err := f.svc.Deal(f.ctx, tc.md, id)
		if tc.found != (err == nil) || (tc.found && d.PartnerID != "var-1") {
			t.Errorf("%s reads %+v, %v; want found=%v", tc.md.Actor, d.DealID, err, tc.found)
		}
		if !tc.found && domain.ErrorCode(err) != domain.NotFound {
			t.Errorf("%s: %v, want not found", tc.md.Actor, err)
		}
	}
}
