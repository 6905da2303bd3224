package domain_test

import (
	"bytes"
	"math"
	"testing"

	"dealcredit/domain"
)

// FuzzCommands feeds arbitrary strings and numbers through the deciders of
// the commands every entry uses (registration, engagement, rejection,
// invoice validation, seats, policy, certification, leads). Whatever they
// accept is folded through the codec into the attribution program (the
// world harness fails the test on any fold error, and refolds through the
// spilling program at cleanup) and must be storable by the projections: no
// NUL once encoded, a stable codec round trip, int4 counts, timestamps
// Postgres can hold. Run as a unit test on its seeds; `go test -fuzz
// FuzzCommands ./domain/` explores.
func FuzzCommands(f *testing.F) {
	f.Add("Acme Corp", "acme.example", "US", "too small", int64(450000), int64(3), int64(48), "2026-01-02")
	f.Add("Nul\x00Corp", "acme\x00.example", "ZZ", "no\x00thanks", int64(math.MaxInt64), int64(2147483648), int64(3000000), "0000-01-01")
	f.Add("Acme \xff Corp", "a\u0085b", "us", "tab\there", int64(domain.MaxAmountMinor), int64(domain.MaxSeats), int64(domain.MaxLeadAcceptHours), "2100-12-31")
	f.Add("Inc.", "", "de", "\ufffd", int64(-1), int64(-1), int64(-1), "2026-02-30")
	f.Fuzz(func(t *testing.T, name, dom, country, reason string, amount, seats, hours int64, date string) {
		w := newWorld(t, "2026-01-05")
		w.enroll("var-a", "us-west", domain.TierGold)
		w.enroll("var-b", "us-west", domain.TierGold)
		cust := domain.Customer{Name: name, Country: country, Domain: dom}
		on, _ := domain.ParseDate(date)
		accepted := func(evs []domain.Event, err error) bool {
			if err == nil {
				projectable(t, evs)
			}
			return err == nil
		}
		if accepted(w.dealCmd("d-1", domain.Register{DealID: "d-1", PartnerID: "var-a", Customer: cust, Geography: "us-west",
			SizeBand: reason, Segments: []domain.Segment{domain.SegmentClientManagement}, ExpectedValue: domain.Money{Amount: amount, Currency: "USD"}, OEMID: "hp"})) {
			accepted(w.dealCmd("d-1", domain.LogEngagement{Step: domain.StepPresalesSupport, OccurredOn: on, Notes: reason}))
			w.must(w.dealCmd("d-1", domain.Approve{}))
		}
		inv := invoice("HP-1", 1, "2026-02-14", line(1, domain.SegmentClientManagement, 1, amount), line(2, domain.SegmentSupport, 2, amount))
		inv.Customer = cust
		inv.InvoiceDate = on
		if inv.Validate() == nil {
			projectable(t, []domain.Event{inv})
			w.fold(inv)
		}
		w.register("d-2", "var-b", domain.SegmentAssetManagement)
		accepted(w.dealCmd("d-2", domain.Reject{Reason: reason}))
		accepted(w.partnerCmd("var-a", "", domain.Certify{PartnerID: "var-a", Engineer: name, Segment: domain.SegmentClientManagement, CertifiedOn: on}))
		accepted(w.partnerCmd("var-a", "us-west", domain.SetSeats{Geography: "us-west", Platinum: int(seats), Gold: int(seats)}))
		pol, err := domain.DecideSetPolicy(w.policy, domain.SetPolicy{EffectiveFrom: domain.DateOf(w.now), RebateBPS: map[domain.Tier]int64{domain.TierGold: 500, domain.TierPlatinum: 800},
			RegistrationDays: 90, ClaimGraceDays: 30, LeadAcceptHours: int(hours), PlatinumMinTarget: domain.Money{Amount: amount, Currency: "USD"},
			GoldMinTarget: domain.Money{Amount: 1, Currency: "USD"}, Reason: reason}, w.now)
		if accepted(pol, err) {
			w.fold(pol...)
		}
		cands := []domain.Candidate{{PartnerID: "var-a", Tier: domain.TierGold, Geography: "us-west"}}
		lead, err := domain.DecideLead(domain.LeadState{}, cands, w.policy.At(domain.DateOf(w.now)), domain.CreateLead{LeadID: "l-1", Geography: "us-west",
			Source: domain.LeadFromCampaign, SourceName: name, Customer: cust}, w.now)
		if accepted(lead, err) {
			w.fold(lead...)
			dec, err := domain.DecideLead(w.leads["l-1"], cands, w.policy.At(domain.DateOf(w.now)), domain.DeclineLead{PartnerID: "var-a", Reason: reason}, w.now)
			if accepted(dec, err) {
				w.fold(dec...)
			}
		}
	})
}

// projectable fails unless every event can be stored by the projections:
// no NUL in its JSON (Postgres text and jsonb refuse it), the same bytes
// after a decode and re-encode (nothing replaced), int4 counts, and times
// within Postgres' timestamptz range.
func projectable(t *testing.T, evs []domain.Event) {
	t.Helper()
	for _, e := range evs {
		typ, v, data, err := domain.Encode(e)
		if err != nil {
			t.Fatalf("encode %T: %v", e, err)
		}
		if bytes.Contains(data, []byte(`\u0000`)) {
			t.Fatalf("accepted %s with a NUL: %s", typ, data)
		}
		back, err := domain.Decode(typ, v, data)
		if err != nil {
			t.Fatalf("decode %s: %v", typ, err)
		}
		_, _, again, err := domain.Encode(back)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("%s changes through the codec: %s -> %s (%v)", typ, data, again, err)
		}
		switch e := e.(type) {
		case domain.SeatsSet:
			if e.Platinum > math.MaxInt32 || e.Gold > math.MaxInt32 {
				t.Fatalf("accepted seats past int4: %+v", e)
			}
		case domain.LeadOffered:
			if y := e.Deadline.Year(); y < 2000 || y > 9999 {
				t.Fatalf("accepted a lead deadline in %d", y)
			}
		}
	}
}
