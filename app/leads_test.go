package app_test

import (
	"slices"
	"testing"
	"time"

	"dealcredit/app"
	"dealcredit/domain"
)

// TestLeadCommands: creating, accepting, declining and cascading leads
// through the service; who gets the offer is the domain's rule (never an
// OEM, Platinum before Gold, an event's participants first).
func TestLeadCommands(t *testing.T) {
	f := newFixture(t)
	f.partner("gold-a", "emea", domain.KindVAR, domain.TierGold)
	f.partner("plat-z", "emea", domain.KindSI, domain.TierPlatinum)
	f.partner("oem-hp", "emea", domain.KindOEM, domain.TierGold)
	f.partner("reg-r", "emea", domain.KindVAR, domain.TierRegistered)
	f.partner("gold-apac", "apac", domain.KindVAR, domain.TierGold)
	f.partner("oem-dell", "apac", domain.KindOEM, domain.TierGold)

	campaign := func(id string) domain.CreateLead {
		return domain.CreateLead{LeadID: id, Geography: "emea", Source: domain.LeadFromCampaign, SourceName: "spring", Customer: customer("Acme " + id)}
	}
	event := func(id string, participants ...string) domain.CreateLead {
		c := campaign(id)
		c.Source, c.Participants = domain.LeadFromEvent, participants
		return c
	}
	create := func(c domain.CreateLead) func() (app.LeadDone, error) {
		return func() (app.LeadDone, error) { return f.svc.CreateLead(f.ctx, channel, c) }
	}
	tests := []struct {
		name    string
		given   []domain.CreateLead
		when    func() (app.LeadDone, error)
		want    outcome
		offered string // the partner the lead is offered to after the command ("" when none)
		status  string
	}{
		{name: "campaign lead goes to platinum first, never to the OEM", when: create(campaign("l-1")),
			want: outcome{events: []string{"lead.created", "lead.offered"}}, offered: "plat-z"},
		{name: "event lead goes to its participants first, from any geography", when: create(event("l-2", "gold-apac", "oem-dell")),
			want: outcome{events: []string{"lead.created", "lead.offered"}}, offered: "gold-apac"},
		{name: "a lead nobody may take is unassigned", when: create(domain.CreateLead{LeadID: "l-3", Geography: "latam", Source: domain.LeadFromCampaign,
			SourceName: "spring", Customer: customer("Nobody")}),
			want: outcome{events: []string{"lead.created", "lead.unassigned"}}, status: "unassigned"},
		{name: "participants on a campaign lead", when: create(domain.CreateLead{LeadID: "l-4", Geography: "emea", Source: domain.LeadFromCampaign,
			SourceName: "spring", Participants: []string{"gold-a"}, Customer: customer("X")}),
			want: outcome{code: domain.Invalid, rule: "event_only", field: "participants"}},
		{name: "a participant listed twice", when: create(event("l-5", "gold-a", "gold-a")),
			want: outcome{code: domain.Invalid, rule: "unique", field: "participants[1]"}},
		{name: "a lead without a customer", when: create(domain.CreateLead{LeadID: "l-6", Geography: "emea", Source: domain.LeadFromCampaign, SourceName: "spring"}),
			want: outcome{code: domain.Invalid, field: "customer.name"}},
		{name: "a bad lead id", when: create(campaign("Bad Id")), want: outcome{code: domain.Invalid, field: "id"}},
		{name: "the same lead twice", given: []domain.CreateLead{campaign("l-7")}, when: create(campaign("l-7")),
			want: outcome{code: domain.Conflict, rule: "lead.unique"}},
		{name: "accepted by the partner it is offered to", given: []domain.CreateLead{campaign("l-8")},
			when: func() (app.LeadDone, error) { return f.svc.AcceptLead(f.ctx, partnerMeta("plat-z"), "l-8") },
			want: outcome{events: []string{"lead.accepted"}}, status: "accepted"},
		{name: "accepted by a channel manager for the partner it is offered to", given: []domain.CreateLead{campaign("l-9")},
			when: func() (app.LeadDone, error) { return f.svc.AcceptLead(f.ctx, channel, "l-9") },
			want: outcome{events: []string{"lead.accepted"}}, status: "accepted"},
		{name: "a partner never offered the lead does not see it", given: []domain.CreateLead{campaign("l-10")},
			when: func() (app.LeadDone, error) { return f.svc.AcceptLead(f.ctx, partnerMeta("gold-a"), "l-10") },
			want: outcome{code: domain.NotFound, field: "id"}},
		{name: "declined: the lead cascades platinum to gold", given: []domain.CreateLead{campaign("l-11")},
			when: func() (app.LeadDone, error) { return f.svc.DeclineLead(f.ctx, partnerMeta("plat-z"), "l-11", "busy") },
			want: outcome{events: []string{"lead.declined", "lead.offered"}}, offered: "gold-a"},
		{name: "declined without a reason", given: []domain.CreateLead{campaign("l-12")},
			when: func() (app.LeadDone, error) { return f.svc.DeclineLead(f.ctx, partnerMeta("plat-z"), "l-12", "") },
			want: outcome{code: domain.Invalid, field: "reason"}},
		{name: "cascade before the deadline", given: []domain.CreateLead{campaign("l-13")},
			when: func() (app.LeadDone, error) { return f.svc.CascadeLead(f.ctx, channel, "l-13") },
			want: outcome{code: domain.Unprocessable, rule: "lead.deadline"}},
		{name: "cascade after the deadline", given: []domain.CreateLead{campaign("l-14")},
			when: func() (app.LeadDone, error) {
				f.clock.set(start.Add(100 * time.Hour))
				defer f.clock.set(start)
				return f.svc.CascadeLead(f.ctx, channel, "l-14")
			},
			want: outcome{events: []string{"lead.declined", "lead.offered"}}, offered: "gold-a"},
		{name: "a lead that does not exist", when: func() (app.LeadDone, error) { return f.svc.AcceptLead(f.ctx, channel, "l-404") },
			want: outcome{code: domain.NotFound, field: "id"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range tc.given {
				f.ok(f.svc.CreateLead(f.ctx, channel, c))
			}
			res, err := tc.when()
			tc.want.check(t, res.Result, err)
			if tc.want.code != "" {
				return
			}
			l := res.Lead
			got := ""
			if l.Current != nil {
				got = l.Current.PartnerID
			}
			if got != tc.offered {
				t.Errorf("offered to %q, want %q", got, tc.offered)
			}
			if tc.status == "accepted" && l.AcceptedBy == "" || tc.status == "unassigned" && !l.Unassigned {
				t.Errorf("lead %+v, want %s", l, tc.status)
			}
			// What the service reports is what the log holds.
			stored := f.streamTypes(domain.LeadStream(l.LeadID))
			if !slices.Equal(stored[len(stored)-len(tc.want.events):], tc.want.events) {
				t.Errorf("lead stream %v does not end with %v", stored, tc.want.events)
			}
		})
	}
}

// TestLeadVisible: a partner sees a lead offered to it, nobody a lead that
// does not exist.
func TestLeadVisible(t *testing.T) {
	l := domain.LeadState{LeadCreated: domain.LeadCreated{LeadID: "l-1"}, Offered: []string{"a", "b"}}
	for _, tc := range []struct {
		md   app.Meta
		lead domain.LeadState
		ok   bool
	}{
		{channel, l, true}, {partnerMeta("b"), l, true}, {partnerMeta("c"), l, false}, {channel, domain.LeadState{}, false},
	} {
		err := app.LeadVisible(tc.md, tc.lead, "l-1")
		if (err == nil) != tc.ok || (err != nil && domain.ErrorCode(err) != domain.NotFound) {
			t.Errorf("%s sees %v: %v, want visible=%v", tc.md.Actor, tc.lead.Offered, err, tc.ok)
		}
	}
}
