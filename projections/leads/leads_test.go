package leads_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"dealcredit/domain"
	"dealcredit/eventstore"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/pgdb"
	"dealcredit/internal/testkit/logtest"
	"dealcredit/projections"
	"dealcredit/projections/leads"

	"github.com/google/uuid"
)

func TestLeadsAndSeats(t *testing.T) {
	ctx := context.Background()
	dsn := logtest.MigratedDatabase(t)
	pool, err := pgdb.OpenPool(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	store, err := pgstore.New(pool, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close(); pool.Close() })

	at := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	day := domain.MustDate("2026-02-01")
	evs := []domain.Event{
		domain.SeatsSet{Geography: "emea", Platinum: 1, Gold: 3, On: day},
		domain.SeatTaken{Geography: "emea", Tier: domain.TierPlatinum, PartnerID: "var-1", On: day},
		domain.SeatTaken{Geography: "emea", Tier: domain.TierGold, PartnerID: "var-2", On: day},
		domain.SeatTaken{Geography: "apac", Tier: domain.TierGold, PartnerID: "var-3", On: day}, // no seats set: unlimited
		domain.LeadCreated{LeadID: "l-1", Geography: "emea", Source: domain.LeadFromCampaign, SourceName: "spring", Customer: domain.Customer{Name: "Acme", Country: "DE"}, CreatedAt: at},
		domain.LeadOffered{LeadID: "l-1", PartnerID: "var-1", Tier: domain.TierPlatinum, Round: 1, OfferedAt: at, Deadline: at.Add(48 * time.Hour)},
		domain.LeadDeclined{LeadID: "l-1", PartnerID: "var-1", Reason: "no capacity", At: at.Add(time.Hour)},
		domain.LeadOffered{LeadID: "l-1", PartnerID: "var-2", Tier: domain.TierGold, Round: 2, OfferedAt: at.Add(time.Hour), Deadline: at.Add(49 * time.Hour)},
		domain.LeadAccepted{LeadID: "l-1", PartnerID: "var-2", At: at.Add(2 * time.Hour)},
	}
	for _, ev := range evs {
		typ, v, data, err := domain.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Append(ctx, domain.StreamOf(ev), eventstore.Any, eventstore.Event{ID: uuid.New(), Type: typ, SchemaVersion: v, Data: data, OccurredAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	m := projections.NewManager(pool, store, nil, nil, leads.New())
	if err := m.Rebuild(ctx, "leads", nil); err != nil {
		t.Fatal(err)
	}
	var status, partner string
	if err := pool.QueryRow(ctx, `SELECT status, partner_id FROM proj_leads.leads WHERE lead_id = 'l-1'`).Scan(&status, &partner); err != nil {
		t.Fatal(err)
	}
	if status != "accepted" || partner != "var-2" {
		t.Fatalf("lead %s %s", status, partner)
	}
	var offers, accepted, declined int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE outcome = 'accepted'), count(*) FILTER (WHERE outcome = 'declined') FROM proj_leads.lead_offers`).Scan(&offers, &accepted, &declined); err != nil {
		t.Fatal(err)
	}
	if offers != 2 || accepted != 1 || declined != 1 {
		t.Fatalf("offers %d accepted %d declined %d", offers, accepted, declined)
	}
	tests := []struct {
		tier            string
		cap, used, free int
	}{{"platinum", 1, 1, 0}, {"gold", 3, 1, 2}}
	for _, tc := range tests {
		var c, u, f int
		if err := pool.QueryRow(ctx, `SELECT capacity, used, free FROM proj_leads.seats WHERE geography = 'emea' AND tier = $1`, tc.tier).Scan(&c, &u, &f); err != nil {
			t.Fatal(err)
		}
		if c != tc.cap || u != tc.used || f != tc.free {
			t.Fatalf("%s seats %d/%d/%d, want %d/%d/%d", tc.tier, c, u, f, tc.cap, tc.used, tc.free)
		}
	}
	seatsThroughReader(t, leads.NewReader(pool))
	rep, err := m.Verify(ctx, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("verify %v\n%s", err, rep)
	}
	if err := m.Rebuild(ctx, "nope", nil); err == nil {
		t.Fatal("rebuild of unknown projection succeeded")
	}
}

// seatsThroughReader reads the seats TestLeadsAndSeats folded as the API
// serves them: platinum first, a tier without capacity unlimited (no
// capacity, no free count), a geography never mentioned without tiers.
func seatsThroughReader(t *testing.T, r *leads.Reader) {
	t.Helper()
	ptr := func(n int) *int { return &n }
	tests := []struct {
		geo  string
		want []leads.TierSeats
	}{
		{"emea", []leads.TierSeats{
			{Tier: "platinum", Capacity: ptr(1), Used: 1, Free: ptr(0)},
			{Tier: "gold", Capacity: ptr(3), Used: 1, Free: ptr(2)},
		}},
		{"apac", []leads.TierSeats{
			{Tier: "platinum", Unlimited: true},
			{Tier: "gold", Unlimited: true, Used: 1},
		}},
		{"nowhere", []leads.TierSeats{}},
	}
	for _, tc := range tests {
		got, err := r.Seats(context.Background(), tc.geo)
		if err != nil {
			t.Fatalf("seats of %s: %v", tc.geo, err)
		}
		if got.Geography != tc.geo || got.Tiers == nil || !reflect.DeepEqual(got.Tiers, tc.want) {
			t.Errorf("seats of %s = %+v, want %+v", tc.geo, got, tc.want)
		}
	}
}
