package domain_test

import (
	"fmt"
	"testing"
	"time"

	"dealcredit/domain"
)

// A lead's respond_by shortens its first offer's window (never lengthens
// it); the offer it cascades to gets the policy's lead_accept_hours.
func TestLeadRespondBy(t *testing.T) {
	w := newWorld(t, "2026-01-05")
	w.enroll("plat-z", "emea", domain.TierPlatinum)
	w.enroll("gold-a", "emea", domain.TierGold)
	pol := w.policy.At(domain.DateOf(w.now))
	window := time.Duration(pol.LeadAcceptHours) * time.Hour
	create := func(id string, by time.Time) ([]domain.Event, error) {
		return domain.DecideLead(domain.LeadState{}, w.prog.Candidates(), pol, domain.CreateLead{LeadID: id, Geography: "emea",
			Source: domain.LeadFromCampaign, SourceName: "hot", Customer: acme, RespondBy: by}, w.now)
	}
	for i, tc := range []struct {
		name string
		by   time.Time
		ok   bool
	}{
		{"seconds ahead", w.now.Add(5 * time.Second), true},
		{"the whole window", w.now.Add(window), true},
		{"now", w.now, false},
		{"in the past", w.now.Add(-time.Hour), false},
		{"beyond the window", w.now.Add(window + time.Second), false},
		{"absurd", time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := create(fmt.Sprintf("l-%d", i), tc.by)
			if !tc.ok {
				wantCode(t, err, domain.Invalid, "lead.respond_by")
				if de := err.(*domain.Error); de.Field != "respond_by" {
					t.Errorf("field %q, want respond_by", de.Field)
				}
				return
			}
			w.must(evs, err)
			if o := evs[1].(domain.LeadOffered); o.PartnerID != "plat-z" || !o.Deadline.Equal(tc.by) {
				t.Fatalf("first offer %s until %s, want plat-z until %s", o.PartnerID, o.Deadline, tc.by)
			}
		})
	}
	// The hot lead lapses after five seconds and cascades with the policy's window.
	evs := w.must(create("l-hot", w.now.Add(5*time.Second)))
	w.fold(evs...)
	if _, err := domain.DecideLead(w.leads["l-hot"], w.prog.Candidates(), pol, domain.CascadeLead{}, w.now.Add(4*time.Second)); err == nil {
		t.Fatal("cascade before respond_by accepted")
	}
	later := w.now.Add(5 * time.Second)
	evs = w.must(domain.DecideLead(w.leads["l-hot"], w.prog.Candidates(), pol, domain.CascadeLead{}, later))
	if d, ok := evs[0].(domain.LeadDeclined); !ok || !d.Expired || d.PartnerID != "plat-z" {
		t.Fatalf("lapse %+v, want plat-z expired", evs[0])
	}
	if o := evs[1].(domain.LeadOffered); o.PartnerID != "gold-a" || !o.Deadline.Equal(later.Add(window)) {
		t.Fatalf("next offer %s until %s, want gold-a until %s", o.PartnerID, o.Deadline, later.Add(window))
	}
}
