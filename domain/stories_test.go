package domain_test

import (
	"fmt"
	"strings"
	"testing"

	"dealcredit/domain"
)

func TestStoryVARRegisteredDealClosingOnHPInvoiceKeepsCredit(t *testing.T) {
	w := newWorld(t, "2026-01-05")
	w.enroll("var-1", "emea", domain.TierGold)
	w.register("d-1", "var-1", domain.SegmentClientManagement)
	w.must(w.dealCmd("d-1", domain.Approve{By: "cm"}))
	w.on("2026-02-14")
	cs := w.fold(invoice("HP-1", 1, "2026-02-14", line(1, domain.SegmentClientManagement, 100, 4500)))
	if got := sum(cs, domain.CreditRevenue, "var-1"); got != 450000 {
		t.Fatalf("revenue credit %d, want 450000: %+v", got, cs)
	}
	if got := sum(cs, domain.CreditRebate, "var-1"); got != 22500 { // gold 500 bps
		t.Fatalf("rebate %d, want 22500", got)
	}
	for _, c := range cs {
		if c.Quarter.String() != "2026Q1" || c.RegistrationID != "d-1" || len(c.EventIDs) < 3 {
			t.Fatalf("credit not explained/booked: %+v", c)
		}
	}
	if len(w.excs) != 0 {
		t.Fatalf("exceptions %+v", w.excs)
	}
}

func TestStoryGoldCannotGetPlatinumSeatWhenSeatsFull(t *testing.T) {
	w := newWorld(t, "2026-01-05")
	w.must(w.partnerCmd("", "emea", domain.SetSeats{Geography: "emea", Platinum: 1, Gold: 10}))
	w.enroll("var-1", "emea", domain.TierPlatinum)
	w.enroll("var-2", "emea", domain.TierGold)
	// var-2 now meets platinum requirements too.
	w.must(w.partnerCmd("var-2", "", domain.Certify{PartnerID: "var-2", Engineer: "eng-9", Segment: domain.SegmentServerManagement, CertifiedOn: domain.DateOf(w.now)}))
	w.must(w.partnerCmd("var-2", "", domain.Commit{PartnerID: "var-2", Segments: domain.SoftwareSegments, QuarterlyTarget: domain.Money{Amount: 30_000_000, Currency: "USD"}}))
	evs, err := w.partnerCmd("var-2", "", domain.ChangeTier{PartnerID: "var-2", Tier: domain.TierPlatinum, Reason: "wants platinum"})
	wantCode(t, err, domain.Unprocessable, "seats.full")
	if !strings.Contains(err.Error(), "waitlisted at position 1") {
		t.Fatalf("error %q does not name the waitlist position", err)
	}
	if len(evs) != 1 || evs[0].(domain.SeatWaitlisted).Position != 1 {
		t.Fatalf("want a waitlist event, got %+v", evs)
	}
	if w.partners["var-2"].Tier != domain.TierGold {
		t.Fatal("tier changed despite full seats")
	}
}

func TestStory250PartnersGrandfatheredToGold(t *testing.T) {
	w := newWorld(t, "2026-01-05")
	w.must(w.partnerCmd("", "na", domain.SetSeats{Geography: "na", Platinum: 5, Gold: 100}))
	for i := 0; i < 250; i++ {
		id := fmt.Sprintf("bp-%03d", i)
		w.must(w.partnerCmd(id, "na", domain.Grandfather{PartnerID: id, Name: "BP " + id, Kind: domain.KindVAR, Geography: "na"}))
	}
	for id, p := range w.partners {
		if p.Tier != domain.TierGold || !p.Grandfathered || p.ReviewOn != domain.MustDate("2026-06-30") {
			t.Fatalf("%s: %+v", id, p)
		}
	}
	if n := len(w.partners); n != 250 || len(w.geos["na"].Holders[domain.TierGold]) != 250 {
		t.Fatalf("partners %d, gold holders %d", n, len(w.geos["na"].Holders[domain.TierGold]))
	}
	// Grandfathered partners may register deals at once, and are not demoted before review.
	w.register("d-1", "bp-007", domain.SegmentAssetManagement)
	evs := w.must(w.partnerCmd("bp-007", "", domain.ReviewTier{PartnerID: "bp-007", Quarter: domain.MustQuarter("2026Q1")}))
	if _, ok := evs[0].(domain.TierReviewed); !ok || w.partners["bp-007"].Tier != domain.TierGold {
		t.Fatalf("grandfathered partner reviewed early: %+v", evs)
	}
	// A newcomer meets the Gold requirements but the seats are over capacity.
	w.enroll("new-1", "na", domain.TierRegistered)
	w.must(w.partnerCmd("new-1", "", domain.Certify{PartnerID: "new-1", Engineer: "e", Segment: domain.SegmentClientManagement, CertifiedOn: domain.DateOf(w.now)}))
	w.must(w.partnerCmd("new-1", "", domain.Commit{PartnerID: "new-1", Segments: []domain.Segment{domain.SegmentClientManagement}, QuarterlyTarget: domain.Money{Amount: 6_000_000, Currency: "USD"}}))
	_, err := w.partnerCmd("new-1", "", domain.ChangeTier{PartnerID: "new-1", Tier: domain.TierGold, Reason: "x"})
	wantCode(t, err, domain.Unprocessable, "seats.full")
}

func TestStoryPlatinumGetsScarceLeadsFirst(t *testing.T) {
	w := newWorld(t, "2026-01-05")
	w.enroll("gold-a", "emea", domain.TierGold)
	w.enroll("plat-z", "emea", domain.TierPlatinum)
	w.enroll("reg-r", "emea", domain.TierRegistered)
	w.enroll("plat-apac", "apac", domain.TierPlatinum)
	pol := w.policy.At(domain.DateOf(w.now))
	evs, err := domain.DecideLead(domain.LeadState{}, w.prog.Candidates(), pol, domain.CreateLead{LeadID: "l-1", Geography: "emea",
		Source: domain.LeadFromCampaign, SourceName: "spring", Customer: acme}, w.now)
	w.must(evs, err)
	w.fold(evs...)
	if o := w.leads["l-1"].Current; o == nil || o.PartnerID != "plat-z" {
		t.Fatalf("first offer %+v, want plat-z", o)
	}
	// Platinum declines: the lead cascades to Gold, never to registered or another geography.
	evs = w.must(domain.DecideLead(w.leads["l-1"], w.prog.Candidates(), pol, domain.DeclineLead{PartnerID: "plat-z", Reason: "busy"}, w.now))
	w.fold(evs...)
	if o := w.leads["l-1"].Current; o == nil || o.PartnerID != "gold-a" {
		t.Fatalf("second offer %+v, want gold-a", o)
	}
	// The offer lapses: cascading finds nobody left.
	w.now = w.now.Add(49 * 60 * 60 * 1e9)
	evs = w.must(domain.DecideLead(w.leads["l-1"], w.prog.Candidates(), pol, domain.CascadeLead{}, w.now))
	if _, ok := evs[len(evs)-1].(domain.LeadUnassigned); !ok {
		t.Fatalf("want unassigned, got %+v", evs)
	}
	// Event leads go first to the event's participants.
	evs = w.must(domain.DecideLead(domain.LeadState{}, w.prog.Candidates(), pol, domain.CreateLead{LeadID: "l-2", Geography: "emea",
		Source: domain.LeadFromEvent, SourceName: "roadshow", Participants: []string{"gold-a"}, Customer: acme}, w.now))
	if o := evs[1].(domain.LeadOffered); o.PartnerID != "gold-a" {
		t.Fatalf("event lead offered to %s, want participant gold-a", o.PartnerID)
	}
}

func TestStoryHPDeclinesServiceVARGetsServiceCredit(t *testing.T) {
	w := newWorld(t, "2026-01-05")
	w.enroll("var-1", "emea", domain.TierGold)
	w.register("d-1", "var-1", domain.SegmentClientManagement)
	w.must(w.dealCmd("d-1", domain.Approve{}))
	w.must(w.dealCmd("d-1", domain.LogEngagement{Step: domain.StepProofOfConcept, OccurredOn: domain.MustDate("2026-01-05"), OEMID: "hp"}))
	w.must(w.dealCmd("d-1", domain.HandOffService{OEMID: "hp", ToPartnerID: "var-1"}))
	cs := w.fold(invoice("HP-2", 1, "2026-02-01", line(1, domain.SegmentClientManagement, 10, 1000), line(2, domain.SegmentServices, 1, 70000)))
	if got := sum(cs, domain.CreditService, "var-1"); got != 70000 {
		t.Fatalf("service credit %d, want 70000: %+v", got, cs)
	}
	// Without a handoff the OEM keeps the service.
	cs = w.fold(domain.InvoiceReceived{OEMID: "dell", InvoiceNumber: "D-1", Revision: 1, Kind: domain.KindInvoice, InvoiceDate: domain.MustDate("2026-02-01"),
		Currency: "USD", Customer: acme, Lines: []domain.InvoiceLine{line(1, domain.SegmentServices, 1, 500)}})
	if sum(cs, domain.CreditOEM, "dell") != 500 {
		t.Fatalf("dell service: %+v", cs)
	}
}

func TestStoryMaintenanceLineStaysDirect(t *testing.T) {
	w := newWorld(t, "2026-01-05")
	w.enroll("var-1", "emea", domain.TierGold)
	w.register("d-1", "var-1", domain.SegmentClientManagement)
	w.must(w.dealCmd("d-1", domain.Approve{}))
	cs := w.fold(invoice("HP-3", 1, "2026-02-01", line(1, domain.SegmentMaintenance, 1, 9000), line(2, domain.SegmentSupport, 1, 1000)))
	if len(cs) != 2 || sum(cs, domain.CreditDirect, "") != 10000 || cs[0].PartnerID != "" {
		t.Fatalf("maintenance/support not direct: %+v", cs)
	}
}

func TestStoryQuarterIndirectShare87Percent(t *testing.T) {
	w := newWorld(t, "2026-01-05")
	w.enroll("var-1", "emea", domain.TierGold)
	w.register("d-1", "var-1", domain.SegmentClientManagement, domain.SegmentServerManagement)
	w.must(w.dealCmd("d-1", domain.Approve{}))
	w.fold(invoice("HP-4", 1, "2026-02-01", line(1, domain.SegmentClientManagement, 1, 600000), line(2, domain.SegmentServerManagement, 1, 270000),
		line(3, domain.SegmentMaintenance, 1, 100000), line(4, domain.SegmentSupport, 1, 30000)))
	want := domain.Mix{Quarter: domain.MustQuarter("2026Q1"), Currency: "USD", Direct: 130000, Indirect: 870000, IndirectShareBPS: 8700}
	if got := w.prog.RevenueMix(domain.MustQuarter("2026Q1")); len(got) != 1 || got[0] != want {
		t.Fatalf("mix %+v, want %+v", got, want)
	}
	if got, err := domain.RevenueMix(domain.MustQuarter("2026Q1"), w.credits); err != nil || len(got) != 1 || got[0] != want {
		t.Fatalf("mix from credits %+v, want %+v", got, want)
	}
}

func TestStoryLateClaimWithinGraceAfterEngagement(t *testing.T) {
	w := newWorld(t, "2026-01-05")
	w.enroll("var-1", "emea", domain.TierGold)
	w.register("d-1", "var-1", domain.SegmentClientManagement)
	w.on("2026-01-10")
	w.must(w.dealCmd("d-1", domain.LogEngagement{Step: domain.StepPresalesSupport, OccurredOn: domain.MustDate("2026-01-10")}))
	w.on("2026-02-01")
	cs := w.fold(invoice("HP-5", 1, "2026-02-01", line(1, domain.SegmentClientManagement, 1, 1000)))
	if sum(cs, domain.CreditUnattributed, "") != 1000 || len(w.excs) != 1 || w.excs[0].Status != "open" {
		t.Fatalf("want exception, got %+v %+v", cs, w.excs)
	}
	w.on("2026-02-20")
	w.must(w.dealCmd("d-1", domain.Approve{}))
	if got := sum(w.credits, domain.CreditRevenue, "var-1"); got != 1000 {
		t.Fatalf("claimed revenue %d", got)
	}
	if got := sum(w.credits, domain.CreditUnattributed, ""); got != 0 {
		t.Fatalf("unattributed not reversed: %d", got)
	}
	if last := w.excs[len(w.excs)-1]; last.Status != "claimed" || last.ClaimedBy != "d-1" {
		t.Fatalf("exception %+v", last)
	}
}

func TestStoryClosedQuarterChangesLandAsAdjustments(t *testing.T) {
	w := newWorld(t, "2026-01-05")
	w.enroll("var-1", "emea", domain.TierGold)
	w.register("d-1", "var-1", domain.SegmentClientManagement)
	w.must(w.dealCmd("d-1", domain.Approve{}))
	w.fold(invoice("HP-6", 1, "2026-03-01", line(1, domain.SegmentClientManagement, 10, 1000)))
	w.on("2026-04-02")
	evs, err := domain.DecideCloseQuarter(w.quarters[domain.MustQuarter("2026Q1")], domain.CloseQuarter{Quarter: domain.MustQuarter("2026Q1")}, w.now)
	w.fold(w.must(evs, err)...)
	memo := invoice("CM-6", 1, "2026-03-30", line(1, domain.SegmentClientManagement, 5, 1000))
	memo.Kind, memo.CreditMemoFor = domain.KindCreditMemo, "HP-6"
	cs := w.fold(memo)
	for _, c := range cs {
		if c.Quarter.String() != "2026Q2" || !c.Adjustment || c.AdjustsQuarter.String() != "2026Q1" {
			t.Fatalf("not an adjustment: %+v", c)
		}
	}
	if sum(cs, domain.CreditRevenue, "var-1") != -5000 || sum(cs, domain.CreditRebate, "var-1") != -250 {
		t.Fatalf("clawback %+v", cs)
	}
}

// TestStoryFreedSeatOfferedToHeadOfWaitlist: rule 4, first come first served (issue 13,
// Deliver 5). One Gold seat, held by gold-1; ready-2 then ready-3 ask and are waitlisted
// at positions 1 and 2. gold-1 is demoted on 2026-01-06: the seat is offered to ready-2
// through 2026-01-20 (SeatOfferDays = 14); ready-3 is refused (seats.offered) until
// then, ready-2 takes it. A second freed seat whose offer lapses goes to whoever asks.
func TestStoryFreedSeatOfferedToHeadOfWaitlist(t *testing.T) {
	w := newWorld(t, "2026-01-05")
	w.must(w.partnerCmd("", "emea", domain.SetSeats{Geography: "emea", Platinum: 1, Gold: 1}))
	w.enroll("gold-1", "emea", domain.TierGold)
	ready := func(id string) {
		w.enroll(id, "emea", domain.TierRegistered)
		w.must(w.partnerCmd(id, "", domain.Certify{PartnerID: id, Engineer: "e", Segment: domain.SegmentClientManagement, CertifiedOn: domain.DateOf(w.now)}))
		w.must(w.partnerCmd(id, "", domain.Commit{PartnerID: id, Segments: []domain.Segment{domain.SegmentClientManagement}, QuarterlyTarget: domain.Money{Amount: 6_000_000, Currency: "USD"}}))
	}
	gold := func(id string) ([]domain.Event, error) {
		return w.partnerCmd(id, "", domain.ChangeTier{PartnerID: id, Tier: domain.TierGold, Reason: "requirements met"})
	}
	ready("ready-2")
	ready("ready-3")
	for _, id := range []string{"ready-2", "ready-3"} {
		_, err := gold(id)
		wantCode(t, err, domain.Unprocessable, "seats.full")
	}
	w.on("2026-01-06")
	w.must(w.partnerCmd("gold-1", "", domain.ChangeTier{PartnerID: "gold-1", Tier: domain.TierRegistered, Reason: "left"}))
	offer, ok := w.geos["emea"].OfferOn(domain.TierGold, domain.MustDate("2026-01-20"))
	if !ok || offer.PartnerID != "ready-2" || offer.Until != domain.MustDate("2026-01-20") {
		t.Fatalf("offer %+v %v, want ready-2 through 2026-01-20", offer, ok)
	}
	w.on("2026-01-20")
	_, err := gold("ready-3")
	wantCode(t, err, domain.Unprocessable, "seats.offered")
	if !strings.Contains(err.Error(), "offered to partner ready-2") || !strings.Contains(err.Error(), "position 2") {
		t.Fatalf("refusal %q names neither the offer nor the position", err)
	}
	w.must(gold("ready-2"))
	if g := w.geos["emea"]; len(g.Offers) != 0 || g.WaitlistPosition(domain.TierGold, "ready-3") != 1 {
		t.Fatalf("after the offer was taken: %+v", g)
	}

	// ready-2 leaves on 2026-01-21: the seat is offered to ready-3 through 2026-02-04.
	// ready-4 asks on 2026-02-05, after the offer lapsed, and takes it.
	w.on("2026-01-21")
	ready("ready-4")
	w.must(w.partnerCmd("ready-2", "", domain.ChangeTier{PartnerID: "ready-2", Tier: domain.TierRegistered, Reason: "left"}))
	_, err = gold("ready-4")
	wantCode(t, err, domain.Unprocessable, "seats.offered")
	w.on("2026-02-05")
	w.must(gold("ready-4"))
	if g := w.geos["emea"]; len(g.Offers) != 0 || g.Holders[domain.TierGold][0] != "ready-4" {
		t.Fatalf("after the offer lapsed: %+v", g)
	}
}
