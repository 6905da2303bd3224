package domain_test

import (
	"fmt"
	"strings"
	"testing"

	"dealcredit/domain"
)

// Attribution in business time, one scenario of issue 13's "Why" per test, with the
// figures computed by hand. Each folds the facts straight into a Program in the arrival
// order of the scenario.

// timeline folds events in the order given.
type timeline struct {
	tb      testing.TB
	p       *domain.Program
	credits []domain.Credit
	excs    []domain.Exception
}

func newTimeline(tb testing.TB) *timeline { return &timeline{tb: tb, p: domain.NewProgram()} }

func (tl *timeline) fold(evs ...domain.Event) []domain.Credit {
	tl.tb.Helper()
	var out []domain.Credit
	for _, e := range evs {
		pos := tl.p.Position() + 1
		id := fmt.Sprintf("ev-%d", pos)
		if inv, ok := e.(domain.InvoiceReceived); ok {
			id = domain.InvoiceEventID(inv.OEMID, inv.InvoiceNumber, inv.Revision)
		}
		o, err := tl.p.Apply(domain.Envelope{Position: pos, EventID: id, StreamID: domain.StreamOf(e), Type: e.EventType(), Event: e})
		if err != nil {
			tl.tb.Fatalf("apply %T: %v", e, err)
		}
		out = append(out, o.Credits...)
		tl.credits = append(tl.credits, o.Credits...)
		tl.excs = append(tl.excs, o.Exceptions...)
	}
	return out
}

// net sums the credits of kind (and partner, when not "") of one invoice.
func net(cs []domain.Credit, number string, kind domain.CreditKind, partner string) int64 {
	var t int64
	for _, c := range cs {
		if c.InvoiceNumber == number && c.Kind == kind && (partner == "" || c.PartnerID == partner) {
			t += c.Amount.Amount
		}
	}
	return t
}

func d(s string) domain.Date { return domain.MustDate(s) }

var globex = domain.Customer{Name: "Globex GmbH", Country: "DE", Domain: "globex.example"}

func enrolled(id string, tier domain.Tier) domain.PartnerEnrolled {
	return domain.PartnerEnrolled{PartnerID: id, Name: id, Kind: domain.KindVAR, Geography: "emea", Tier: tier, EnrolledOn: d("2026-01-05")}
}

func registered(id, partner string, c domain.Customer, segs ...domain.Segment) domain.DealRegistered {
	return domain.DealRegistered{DealID: id, PartnerID: partner, Customer: c, CustomerKey: domain.CustomerKey(c), Geography: "emea",
		Segments: segs, ExpectedValue: domain.Money{Amount: 100, Currency: "USD"}, RegisteredOn: d("2026-11-01")}
}

func approved(id, on string) domain.DealApproved {
	return domain.DealApproved{DealID: id, ApprovedOn: d(on), ExpiresOn: d(on).AddDays(90)}
}

func globexInvoice(number, day string, lines ...domain.InvoiceLine) domain.InvoiceReceived {
	return domain.InvoiceReceived{OEMID: "hp", InvoiceNumber: number, Revision: 1, Kind: domain.KindInvoice, InvoiceDate: d(day),
		Currency: "USD", Customer: globex, Lines: lines}
}

// An invoice dated 2026-11-26 arrives after the deal was approved on 12-01, with an
// engagement logged for 11-25: rule 13 gives it to the VAR (before: "no registration
// matched; exception open"). 100,000.00 USD at Gold 500 bps: revenue 10,000,000,
// rebate 500,000.
func TestBusinessTimeLateClaimWhenTheInvoiceArrivesAfterTheApproval(t *testing.T) {
	tl := newTimeline(t)
	tl.fold(enrolled("var-1", domain.TierGold), registered("d-1", "var-1", globex, domain.SegmentClientManagement),
		domain.EngagementLogged{DealID: "d-1", PartnerID: "var-1", Step: domain.StepPresalesSupport, OccurredOn: d("2026-11-25")},
		approved("d-1", "2026-12-01"))
	cs := tl.fold(globexInvoice("INV-1", "2026-11-26", line(1, domain.SegmentClientManagement, 1, 10_000_000)))
	if got := net(cs, "INV-1", domain.CreditRevenue, "var-1"); got != 10_000_000 {
		t.Fatalf("revenue %d, want 10,000,000 to var-1: %+v", got, cs)
	}
	if got := net(cs, "INV-1", domain.CreditRebate, "var-1"); got != 500_000 {
		t.Fatalf("rebate %d, want 500,000", got)
	}
	if !strings.Contains(cs[0].Reason, "claim within 30 grace days") {
		t.Errorf("reason %q", cs[0].Reason)
	}
	if len(tl.p.OpenExceptions()) != 0 {
		t.Errorf("open exceptions %+v", tl.p.OpenExceptions())
	}
}

// A same-day invoice (12-01) arrives before the approval of 12-01: the approval
// re-attributes it (unattributed 10,000,000 reversed; revenue 10,000,000 and rebate
// 500,000 booked, both naming the approval) and the exception is matched.
func TestBusinessTimeSameDayInvoiceBeforeTheApproval(t *testing.T) {
	tl := newTimeline(t)
	tl.fold(enrolled("var-1", domain.TierGold), registered("d-1", "var-1", globex, domain.SegmentClientManagement))
	cs := tl.fold(globexInvoice("INV-1", "2026-12-01", line(1, domain.SegmentClientManagement, 1, 10_000_000)))
	if got := net(cs, "INV-1", domain.CreditUnattributed, ""); got != 10_000_000 {
		t.Fatalf("before the approval: unattributed %d", got)
	}
	cs = tl.fold(approved("d-1", "2026-12-01"))
	if net(cs, "INV-1", domain.CreditUnattributed, "") != -10_000_000 || net(cs, "INV-1", domain.CreditRevenue, "var-1") != 10_000_000 ||
		net(cs, "INV-1", domain.CreditRebate, "var-1") != 500_000 {
		t.Fatalf("approval books %+v", cs)
	}
	for _, c := range cs {
		if !strings.Contains(c.Reason, "deal.approved on deal-d-1") {
			t.Errorf("row does not name the approval: %q", c.Reason)
		}
	}
	if e := tl.excs[len(tl.excs)-1]; e.Status != "matched" || e.ClaimedBy != "d-1" {
		t.Errorf("exception %+v", e)
	}
}

// A grandfathered Gold partner claims an invoice dated before its enrolment in the
// system: 500 bps (before: "registered rebate 0 bps"). 20,000.00 x 5% = 100,000.
func TestBusinessTimeGrandfatheredPartnerKeepsItsTierBeforeEnrolment(t *testing.T) {
	tl := newTimeline(t)
	tl.fold(domain.PartnerGrandfathered{PartnerID: "var-g", Name: "G", Kind: domain.KindVAR, Geography: "emea", Tier: domain.TierGold,
		EnrolledOn: d("2026-11-25"), ReviewOn: d("2027-03-31")},
		registered("d-1", "var-g", globex, domain.SegmentServerManagement),
		domain.EngagementLogged{DealID: "d-1", PartnerID: "var-g", Step: domain.StepPresalesSupport, OccurredOn: d("2026-11-20")},
		globexInvoice("INV-1", "2026-11-21", line(1, domain.SegmentServerManagement, 1, 2_000_000)))
	cs := tl.fold(approved("d-1", "2026-11-26"))
	if got := net(cs, "INV-1", domain.CreditRebate, "var-g"); got != 100_000 {
		t.Fatalf("rebate %d, want 100,000 (gold 500 bps): %+v", got, cs)
	}
}

// A promotion to Platinum effective 12-01 is recorded after an invoice dated 12-02 was
// booked at the Gold rate: the promotion re-attributes it (rebate 5,000 -> 8,000 on
// 100,000 minor units), and re-sending the unchanged invoice as revision 2 changes no
// figure (before: the re-send moved the rebate).
func TestBusinessTimePromotionReachesLinesDatedAfterIt(t *testing.T) {
	tl := newTimeline(t)
	tl.fold(enrolled("var-1", domain.TierGold), registered("d-1", "var-1", globex, domain.SegmentClientManagement), approved("d-1", "2026-11-20"))
	inv := globexInvoice("INV-1", "2026-12-02", line(1, domain.SegmentClientManagement, 1, 100_000))
	tl.fold(inv)
	if got := net(tl.credits, "INV-1", domain.CreditRebate, "var-1"); got != 5_000 {
		t.Fatalf("gold rebate %d", got)
	}
	cs := tl.fold(domain.TierChanged{PartnerID: "var-1", From: domain.TierGold, To: domain.TierPlatinum, Reason: "met", EffectiveOn: d("2026-12-01")})
	if got := net(tl.credits, "INV-1", domain.CreditRebate, "var-1"); got != 8_000 {
		t.Fatalf("after the promotion: rebate %d, want 8,000 (%+v)", got, cs)
	}
	if net(cs, "INV-1", domain.CreditRevenue, "") != 0 {
		t.Errorf("the promotion moved revenue: %+v", cs)
	}
	inv.Revision = 2
	tl.fold(inv)
	if got := net(tl.credits, "INV-1", domain.CreditRebate, "var-1"); got != 8_000 {
		t.Fatalf("after re-sending: rebate %d, want 8,000", got)
	}
}

// Two deals on one customer domain approved the same day: the approval first in the log
// wins, whatever the ids (before: the smaller id), and the reason says why the other lost.
func TestBusinessTimeTieGoesToTheFirstApprovalInTheLog(t *testing.T) {
	for _, order := range [][2]string{{"d-z", "d-a"}, {"d-a", "d-z"}} {
		tl := newTimeline(t)
		other := domain.Customer{Name: "Globex Holdings", Country: "DE", Domain: "globex.example"}
		tl.fold(enrolled("var-1", domain.TierGold), enrolled("var-2", domain.TierGold),
			registered("d-z", "var-1", globex, domain.SegmentAssetManagement), registered("d-a", "var-2", other, domain.SegmentAssetManagement),
			approved(order[0], "2026-12-01"), approved(order[1], "2026-12-01"))
		cs := tl.fold(globexInvoice("INV-1", "2026-12-03", line(1, domain.SegmentAssetManagement, 1, 50_000)))
		if len(cs) == 0 || cs[0].Kind != domain.CreditRevenue || cs[0].RegistrationID != order[0] {
			t.Fatalf("approvals %v: the line went to %+v", order, cs)
		}
		if !strings.Contains(cs[0].Reason, "deal "+order[1]+" of ") || !strings.Contains(cs[0].Reason, "later in the log") {
			t.Errorf("reason does not say why %s lost: %q", order[1], cs[0].Reason)
		}
	}
}

// An invoice is what its highest revision says, currency included. A credit memo in EUR
// against a USD invoice waits (before: refused for good); a revision 2 in JPY replaces the
// USD credits with JPY ones (before: refused, the USD credits stayed); a revision 3 in EUR
// applies the memo: half returned claws back 500,000 of revenue and 25,000 of rebate in EUR.
func TestBusinessTimeRevisionInAnotherCurrencyReplacesAndMemoWaitsForIt(t *testing.T) {
	tl := newTimeline(t)
	tl.fold(enrolled("var-1", domain.TierGold), registered("d-1", "var-1", globex, domain.SegmentClientManagement), approved("d-1", "2026-11-20"),
		globexInvoice("INV-1", "2026-11-25", line(1, domain.SegmentClientManagement, 1, 1_000_000)))
	memo := globexInvoice("CM-1", "2026-11-28", line(1, domain.SegmentClientManagement, 1, 500_000))
	memo.Kind, memo.CreditMemoFor, memo.Currency = domain.KindCreditMemo, "INV-1", "EUR"
	if cs := tl.fold(memo); len(cs) != 0 {
		t.Fatalf("the EUR memo booked %+v against the USD invoice", cs)
	}
	if e := tl.excs[len(tl.excs)-1]; e.Status != "waiting" || !strings.Contains(e.Tried[0], "currency EUR") {
		t.Errorf("exception %+v, want waiting for EUR", e)
	}
	byKind := func(cs []domain.Credit) map[string]int64 {
		m := map[string]int64{}
		for _, c := range cs {
			m[string(c.Kind)+" "+c.Amount.Currency] += c.Amount.Amount
		}
		for k, v := range m {
			if v == 0 {
				delete(m, k)
			}
		}
		return m
	}
	for _, step := range []struct {
		revision int
		currency string
		want     map[string]int64 // net change of the step
		memo     string           // the memo's last exception status in the step ("" none)
	}{
		{2, "JPY", map[string]int64{"revenue USD": -1_000_000, "rebate USD": -50_000, "revenue JPY": 1_000_000, "rebate JPY": 50_000}, "waiting"},
		{3, "EUR", map[string]int64{"revenue JPY": -1_000_000, "rebate JPY": -50_000, "revenue EUR": 500_000, "rebate EUR": 25_000}, "applied"},
	} {
		rev := globexInvoice("INV-1", "2026-11-25", line(1, domain.SegmentClientManagement, 1, 1_000_000))
		rev.Revision, rev.Currency = step.revision, step.currency
		n := len(tl.excs)
		if got := byKind(tl.fold(rev)); fmt.Sprint(got) != fmt.Sprint(step.want) {
			t.Errorf("revision %d in %s: net %v, want %v", step.revision, step.currency, got, step.want)
		}
		status := ""
		for _, e := range tl.excs[n:] {
			if e.CreditMemo {
				status = e.Status
			}
		}
		if status != step.memo {
			t.Errorf("revision %d in %s: memo exception %q, want %q", step.revision, step.currency, status, step.memo)
		}
	}
}

// A credit memo that arrives before its invoice waits (exception status "waiting") and is
// applied when the invoice arrives: half returned claws back 500,000 of revenue and
// 25,000 of rebate in the memo's quarter.
func TestBusinessTimeCreditMemoBeforeItsInvoiceWaits(t *testing.T) {
	tl := newTimeline(t)
	tl.fold(enrolled("var-1", domain.TierGold), registered("d-1", "var-1", globex, domain.SegmentClientManagement), approved("d-1", "2026-09-20"))
	memo := globexInvoice("CM-1", "2026-10-02", line(1, domain.SegmentClientManagement, 1, 500_000))
	memo.Kind, memo.CreditMemoFor = domain.KindCreditMemo, "INV-1"
	if cs := tl.fold(memo); len(cs) != 0 {
		t.Fatalf("memo without invoice booked %+v", cs)
	}
	if e := tl.excs[len(tl.excs)-1]; e.Status != "waiting" {
		t.Fatalf("exception %+v", e)
	}
	cs := tl.fold(globexInvoice("INV-1", "2026-09-25", line(1, domain.SegmentClientManagement, 1, 1_000_000)))
	if net(cs, "INV-1", domain.CreditRevenue, "var-1") != 500_000 || net(cs, "INV-1", domain.CreditRebate, "var-1") != 25_000 {
		t.Fatalf("invoice with waiting memo books %+v", cs)
	}
	var q4 int64
	for _, c := range cs {
		if c.Quarter == domain.MustQuarter("2026Q4") {
			q4 += c.Amount.Amount
		}
	}
	if q4 != -525_000 {
		t.Errorf("clawback in 2026Q4 %d, want -525,000", q4)
	}
	if e := tl.excs[len(tl.excs)-1]; e.Status != "applied" {
		t.Errorf("memo exception %+v", e)
	}
}

// A services line that arrives before the OEM's service handoff moves to the SI when the
// handoff is recorded (before: 1,200,000 stayed with the OEM).
func TestBusinessTimeServiceHandoffReachesEarlierLines(t *testing.T) {
	tl := newTimeline(t)
	tl.fold(enrolled("var-1", domain.TierGold), registered("d-1", "var-1", globex, domain.SegmentClientManagement, domain.SegmentServices),
		approved("d-1", "2026-11-20"), globexInvoice("INV-1", "2026-11-25", line(1, domain.SegmentServices, 1, 1_200_000)))
	if got := net(tl.credits, "INV-1", domain.CreditOEM, "hp"); got != 1_200_000 {
		t.Fatalf("before the handoff: oem %d", got)
	}
	tl.fold(domain.ServiceHandedOff{DealID: "d-1", OEMID: "hp", ToPartnerID: "si-1", On: d("2026-11-30")})
	if net(tl.credits, "INV-1", domain.CreditOEM, "") != 0 || net(tl.credits, "INV-1", domain.CreditService, "si-1") != 1_200_000 {
		t.Fatalf("after the handoff: %+v", tl.credits)
	}
}

// A policy version recorded after an invoice dated inside its effect applies to it:
// Platinum 800 -> 1,100 bps (on 100,000: 8,000 -> 11,000).
func TestBusinessTimePolicyVersionReachesLinesDatedInsideItsEffect(t *testing.T) {
	tl := newTimeline(t)
	tl.fold(enrolled("var-1", domain.TierPlatinum), registered("d-1", "var-1", globex, domain.SegmentClientManagement), approved("d-1", "2026-11-20"),
		globexInvoice("INV-1", "2026-12-05", line(1, domain.SegmentClientManagement, 1, 100_000)))
	if got := net(tl.credits, "INV-1", domain.CreditRebate, "var-1"); got != 8_000 {
		t.Fatalf("before: rebate %d", got)
	}
	pol := domain.DefaultPolicy()
	pol.Version, pol.EffectiveFrom = 1, d("2026-12-02")
	pol.RebateBPS = map[domain.Tier]int64{domain.TierRegistered: 0, domain.TierGold: 650, domain.TierPlatinum: 1100}
	tl.fold(pol)
	if got := net(tl.credits, "INV-1", domain.CreditRebate, "var-1"); got != 11_000 {
		t.Fatalf("after the policy: rebate %d, want 11,000", got)
	}
}

// A revision arriving after a late claim keeps the claim (before: it un-claimed the line).
func TestBusinessTimeRevisionAfterALateClaimKeepsIt(t *testing.T) {
	tl := newTimeline(t)
	tl.fold(enrolled("var-1", domain.TierGold), registered("d-1", "var-1", globex, domain.SegmentClientManagement),
		domain.EngagementLogged{DealID: "d-1", PartnerID: "var-1", Step: domain.StepPresalesSupport, OccurredOn: d("2026-11-10")},
		globexInvoice("INV-1", "2026-11-12", line(1, domain.SegmentClientManagement, 1, 100_000)),
		approved("d-1", "2026-11-20"))
	rev := globexInvoice("INV-1", "2026-11-12", line(1, domain.SegmentClientManagement, 2, 100_000))
	rev.Revision = 2
	tl.fold(rev)
	if net(tl.credits, "INV-1", domain.CreditRevenue, "var-1") != 200_000 || net(tl.credits, "INV-1", domain.CreditUnattributed, "") != 0 {
		t.Fatalf("after the revision: %+v", tl.credits)
	}
}

// Two deals that could both claim a line (approved the same day after the invoice date,
// both engaged before it; the invoice arrives last): the approval first in the log claims
// it, and the reason says why the other lost.
func TestBusinessTimeClaimTieGoesToTheFirstApprovalInTheLog(t *testing.T) {
	for _, order := range [][2]string{{"d-z", "d-a"}, {"d-a", "d-z"}} {
		tl := newTimeline(t)
		other := domain.Customer{Name: "Globex Holdings", Country: "DE", Domain: "globex.example"}
		tl.fold(enrolled("var-1", domain.TierGold), enrolled("var-2", domain.TierGold),
			registered("d-z", "var-1", globex, domain.SegmentAssetManagement), registered("d-a", "var-2", other, domain.SegmentAssetManagement),
			domain.EngagementLogged{DealID: "d-z", PartnerID: "var-1", Step: domain.StepPresalesSupport, OccurredOn: d("2026-11-20")},
			domain.EngagementLogged{DealID: "d-a", PartnerID: "var-2", Step: domain.StepPresalesSupport, OccurredOn: d("2026-11-20")},
			approved(order[0], "2026-11-25"), approved(order[1], "2026-11-25"),
			globexInvoice("INV-1", "2026-11-21", line(1, domain.SegmentAssetManagement, 1, 50_000)))
		if got := net(tl.credits, "INV-1", domain.CreditRevenue, ""); got != 50_000 {
			t.Fatalf("approvals %v: revenue %d", order, got)
		}
		var winner domain.Credit
		for _, c := range tl.credits {
			if c.Kind == domain.CreditRevenue && c.Amount.Amount > 0 {
				winner = c
			}
		}
		if winner.RegistrationID != order[0] || !strings.Contains(winner.Reason, "deal "+order[1]+" of ") ||
			!strings.Contains(winner.Reason, "could also claim it but was approved the same day, later in the log") {
			t.Errorf("approvals %v: the line went to %s: %q", order, winner.RegistrationID, winner.Reason)
		}
	}
}

// A late claim of a line of a closed quarter lands as adjustments in the first open
// quarter: the unattributed 100,000 of 2026Q3 is reversed and revenue 100,000 and rebate
// 5,000 booked, all in 2026Q4 with adjusts_quarter 2026Q3; 2026Q3 never changes.
func TestBusinessTimeReattributionOfAClosedQuarterIsAnAdjustment(t *testing.T) {
	tl := newTimeline(t)
	q3, q4 := domain.MustQuarter("2026Q3"), domain.MustQuarter("2026Q4")
	tl.fold(enrolled("var-1", domain.TierGold), registered("d-1", "var-1", globex, domain.SegmentClientManagement),
		domain.EngagementLogged{DealID: "d-1", PartnerID: "var-1", Step: domain.StepPresalesSupport, OccurredOn: d("2026-09-20")},
		globexInvoice("INV-1", "2026-09-28", line(1, domain.SegmentClientManagement, 1, 100_000)),
		domain.QuarterClosed{Quarter: q3, ClosedOn: d("2026-10-01")})
	cs := tl.fold(approved("d-1", "2026-10-05"))
	if len(cs) != 3 {
		t.Fatalf("the late claim booked %+v", cs)
	}
	for _, c := range cs {
		if c.Quarter != q4 || !c.Adjustment || c.AdjustsQuarter != q3 {
			t.Errorf("row not an adjustment of %s in %s: %+v", q3, q4, c)
		}
	}
	if net(cs, "INV-1", domain.CreditUnattributed, "") != -100_000 || net(cs, "INV-1", domain.CreditRevenue, "var-1") != 100_000 ||
		net(cs, "INV-1", domain.CreditRebate, "var-1") != 5_000 {
		t.Errorf("figures %+v", cs)
	}
}

// A partner enrolled in the system on 2026-11-25 with its history (issue 13, Deliver 4)
// claims an invoice dated 2026-11-21: the rate follows the history, not its enrolment tier
// and not "registered" by default. 20,000.00 USD (2,000,000 minor units) per case.
func TestBusinessTimePartnerHistoryGivesTheRateBeforeEnrolment(t *testing.T) {
	tests := []struct {
		name  string
		enrol domain.Event
		want  int64
	}{
		// Gold since 2024-01-01: 2,000,000 x 5% = 100,000 (before: registered, 0).
		{"enrolled, gold since 2024", domain.PartnerEnrolled{PartnerID: "var-g", Name: "G", Kind: domain.KindVAR, Geography: "emea",
			Tier: domain.TierRegistered, EnrolledOn: d("2026-11-25"), JoinedOn: d("2020-01-01"),
			TierHistory: []domain.PastTier{{Tier: domain.TierGold, From: d("2024-01-01")}}}, 100_000},
		// Gold since 2024, Platinum since 2026-11-01: 2,000,000 x 8% = 160,000.
		{"enrolled, platinum since 11-01", domain.PartnerEnrolled{PartnerID: "var-g", Name: "G", Kind: domain.KindVAR, Geography: "emea",
			Tier: domain.TierRegistered, EnrolledOn: d("2026-11-25"),
			TierHistory: []domain.PastTier{{Tier: domain.TierGold, From: d("2024-01-01")}, {Tier: domain.TierPlatinum, From: d("2026-11-01")}}}, 160_000},
		// Grandfathered as Gold, but its history says registered until enrolment: 0 (the
		// history wins over extending the Gold tier backwards).
		{"grandfathered, registered before", domain.PartnerGrandfathered{PartnerID: "var-g", Name: "G", Kind: domain.KindVAR, Geography: "emea",
			Tier: domain.TierGold, EnrolledOn: d("2026-11-25"), ReviewOn: d("2027-03-31"), JoinedOn: d("2026-01-01"),
			TierHistory: []domain.PastTier{{Tier: domain.TierRegistered, From: d("2026-01-01")}}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tl := newTimeline(t)
			tl.fold(tc.enrol,
				registered("d-1", "var-g", globex, domain.SegmentServerManagement),
				domain.EngagementLogged{DealID: "d-1", PartnerID: "var-g", Step: domain.StepPresalesSupport, OccurredOn: d("2026-11-20")},
				globexInvoice("INV-1", "2026-11-21", line(1, domain.SegmentServerManagement, 1, 2_000_000)))
			cs := tl.fold(approved("d-1", "2026-11-26"))
			if got := net(cs, "INV-1", domain.CreditRevenue, "var-g"); got != 2_000_000 {
				t.Fatalf("revenue %d, want 2,000,000: %+v", got, cs)
			}
			if got := net(cs, "INV-1", domain.CreditRebate, "var-g"); got != tc.want {
				t.Fatalf("rebate %d, want %d: %+v", got, tc.want, cs)
			}
		})
	}
}

// A credit memo on a line its invoice does not have yet waits for the revision that brings
// the line, in either arrival order: the memo before or after that revision gives the same
// clawback (before, a memo that came first was dropped: exception "open", never applied).
func TestBusinessTimeCreditMemoWaitsForTheRevisionThatBringsItsLine(t *testing.T) {
	r1 := globexInvoice("INV-1", "2026-11-25", line(1, domain.SegmentClientManagement, 1, 1_000_000))
	r2 := globexInvoice("INV-1", "2026-11-25", line(1, domain.SegmentClientManagement, 1, 1_000_000), line(2, domain.SegmentClientManagement, 2, 200_000))
	r2.Revision = 2
	memo := globexInvoice("CM-1", "2026-11-30", line(2, domain.SegmentClientManagement, 1, 100_000))
	memo.Kind, memo.CreditMemoFor = domain.KindCreditMemo, "INV-1"
	for _, order := range []struct {
		name string
		evs  []domain.Event
	}{
		{"memo after the revision", []domain.Event{r1, r2, memo}},
		{"memo between", []domain.Event{r1, memo, r2}},
		{"memo first", []domain.Event{memo, r1, r2}},
	} {
		t.Run(order.name, func(t *testing.T) {
			tl := newTimeline(t)
			tl.fold(enrolled("var-1", domain.TierGold), registered("d-1", "var-1", globex, domain.SegmentClientManagement), approved("d-1", "2026-11-01"))
			tl.fold(order.evs...)
			// 1,000,000 + 400,000 - 100,000 (a quarter of line 2); rebate 5% of it.
			if got := net(tl.credits, "INV-1", domain.CreditRevenue, "var-1"); got != 1_300_000 {
				t.Errorf("revenue %d, want 1,300,000", got)
			}
			if got := net(tl.credits, "INV-1", domain.CreditRebate, "var-1"); got != 65_000 {
				t.Errorf("rebate %d, want 65,000", got)
			}
		})
	}
}
