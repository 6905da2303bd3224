package daemon_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"dealcredit/consumers/oemfeed"
	"dealcredit/domain"
)

type reviewProposal struct {
	PartnerID string `json:"partner_id"`
	From      string `json:"from"`
	To        string `json:"to"`
	Action    string `json:"action"`
	Reason    string `json:"reason"`
	Waitlist  string `json:"waitlist"`
	Applied   bool   `json:"applied"`
	Scorecard struct {
		Eligible string `json:"eligible"`
		Credited struct {
			Amount   int64  `json:"amount_minor"`
			Currency string `json:"currency"`
		} `json:"credited"`
	} `json:"scorecard"`
}

type reviewBody struct {
	ReviewID  string           `json:"review_id"`
	Revision  int              `json:"revision"`
	Proposals []reviewProposal `json:"proposals"`
}

type reviewRunBody struct {
	Position int64      `json:"position"`
	New      bool       `json:"new"`
	Review   reviewBody `json:"review"`
}

type appliedBody struct {
	ReviewID  string   `json:"review_id"`
	PartnerID string   `json:"partner_id"`
	Status    string   `json:"status"`
	Position  int64    `json:"position"`
	Events    []string `json:"events"`
	Problem   *struct {
		Rule string `json:"rule"`
	} `json:"problem"`
}

// decode unmarshals b into v or fails.
func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// summarize is "partner: action from->to [waitlist]" per proposal.
func summarize(ps []reviewProposal) string {
	var out []string
	for _, p := range ps {
		s := fmt.Sprintf("%s: %s %s->%s", p.PartnerID, p.Action, p.From, p.To)
		if p.Waitlist != "" {
			s += " [" + p.Waitlist + "]"
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

// goldAimingHigher enrolls a Gold partner of emea that meets Platinum's
// requirements (two engineers, three segments, a Platinum target).
func (e *e2e) goldAimingHigher(id string) {
	e.t.Helper()
	e.partner(id, domain.TierGold)
	e.call("POST", "/v1/partners/"+id+"/certifications", "channel_manager", map[string]any{"engineer": id + "-eng-9",
		"segment": "server_management", "certified_on": e.today.String()}, 201)
	e.call("POST", "/v1/partners/"+id+"/commitments", "channel_manager", map[string]any{"segments": []string{"client_management", "server_management", "asset_management"},
		"quarterly_target_minor": 30_000_000, "currency": "USD"}, 201)
}

// credit registers and approves a deal of partner and publishes an HP
// invoice of amount for it dated today; it returns once the line is credited.
func (e *e2e) credit(partner string, amount int64) {
	e.t.Helper()
	name, dom := "Customer of "+partner, partner+".example"
	e.approve(e.deal(partner, name, dom))
	number := "HP-REV-" + partner
	e.publish(hp(number, 1, e.today, oemfeed.Customer{OEMAccountID: "HP-" + partner, Name: name, Country: "DE", Domain: dom}, "USD", clientLine(amount)))
	e.until("credit of "+partner, number, []domain.Date{e.today}, func(rows []row) bool { return figure(rows, "revenue", partner) == amount })
}

// A quarterly tier review through the API (issue 15 item 3) in emea, whose
// two Platinum seats have one free: of two Golds eligible for Platinum the
// one with more credited revenue is proposed the last seat, the other "no
// seat" (waitlisted when applied); a Gold with nothing credited is demoted;
// the grandfathered partner is kept until its review date. Running the
// review twice gives the same review; the grandfathered partner sees only its
// own proposal; applying one and then all gives the tiers proposed, a stale
// proposal (tier or seats changed since) is refused with its rule, applying
// twice appends nothing, and the Platinum seats never exceed their capacity.
func TestTierReviewThroughAPI(t *testing.T) {
	e := newE2EWithPartner(t, "gf-1")
	q := e.today.Quarter().String()
	e.call("PUT", "/v1/geographies/emea/seats", "admin", map[string]any{"platinum": 2, "gold": 4}, 200)
	e.call("POST", "/v1/partners", "channel_manager", map[string]any{"id": "hp", "name": "HP", "kind": "oem", "geography": "emea"}, 201)
	e.partner("plat-1", domain.TierPlatinum)
	e.goldAimingHigher("gold-a")
	e.goldAimingHigher("gold-b")
	e.partner("gold-low", domain.TierGold)
	e.call("POST", "/v1/partners:grandfather", "admin", map[string]any{"partners": []map[string]any{
		{"id": "gf-1", "name": "Existing Partner", "kind": "var", "geography": "emea"}}}, 201)
	e.credit("plat-1", 30_000_000)
	e.credit("gold-a", 40_000_000)
	e.credit("gold-b", 30_000_000)

	e.call("POST", "/v1/reviews/"+q, "partner", nil, 403)
	e.call("POST", "/v1/reviews/2100Q1", "channel_manager", nil, 422)
	e.call("GET", "/v1/reviews/"+q, "channel_manager", nil, 404)
	run := decode[reviewRunBody](t, e.call("POST", "/v1/reviews/"+q, "channel_manager", nil, 201))
	want := "gf-1: grandfathered gold->gold; gold-a: promote gold->platinum; gold-b: waitlist gold->gold [platinum]; " +
		"gold-low: demote gold->registered; plat-1: keep platinum->platinum"
	if got := summarize(run.Review.Proposals); !run.New || run.Review.ReviewID != q+"-r1" || got != want {
		t.Fatalf("review %s (new %v):\n got %s\nwant %s", run.Review.ReviewID, run.New, got, want)
	}
	for _, p := range run.Review.Proposals {
		if p.PartnerID == "gold-a" && (p.Scorecard.Credited.Amount != 40_000_000 || p.Scorecard.Eligible != "platinum") {
			t.Errorf("gold-a scorecard: %+v", p.Scorecard)
		}
		if p.PartnerID == "gold-b" && !strings.Contains(p.Reason, "all 2 platinum seats taken") {
			t.Errorf("gold-b's no seat reason: %q", p.Reason)
		}
	}
	again := decode[reviewRunBody](t, e.call("POST", "/v1/reviews/"+q, "admin", nil, 200))
	if again.New || again.Review.ReviewID != run.Review.ReviewID || summarize(again.Review.Proposals) != want {
		t.Fatalf("second run: %+v, want the same review", again)
	}

	// A partner sees its own proposal only.
	own := decode[reviewBody](t, e.call("GET", "/v1/reviews/"+q, "partner", nil, 200))
	if got := summarize(own.Proposals); got != "gf-1: grandfathered gold->gold" {
		t.Fatalf("gf-1 sees %s", got)
	}

	// Apply one: refused while the seat it takes is gone, applied once it is back, then idempotent.
	apply := "/v1/reviews/" + q + "/proposals/gold-a/apply"
	e.call("POST", apply, "partner", nil, 403)
	e.call("PUT", "/v1/geographies/emea/seats", "admin", map[string]any{"platinum": 1, "gold": 4}, 200)
	if p := e.problem("POST", apply, 409); p.Rule != "review.seats_changed" {
		t.Fatalf("apply with the seat gone: rule %q", p.Rule)
	}
	e.call("PUT", "/v1/geographies/emea/seats", "admin", map[string]any{"platinum": 2, "gold": 4}, 200)
	one := decode[appliedBody](t, e.call("POST", apply, "channel_manager", nil, 200))
	if one.Status != "applied" || strings.Join(one.Events, ",") != "partner.tier_changed,geo.seat_released,geo.seat_taken,review.proposal_applied" {
		t.Fatalf("apply gold-a: %+v", one)
	}
	e.tierChangeCites("gold-a", one.Position, run.Review.ReviewID)
	if twice := decode[appliedBody](t, e.call("POST", apply, "channel_manager", nil, 200)); twice.Status != "already_applied" || len(twice.Events) != 0 {
		t.Fatalf("apply gold-a twice: %+v", twice)
	}

	// gold-low's tier changes by hand: its proposal is stale.
	e.call("POST", "/v1/partners/gold-low/tier", "channel_manager", map[string]any{"tier": "registered", "reason": "left the program"}, 200)
	all := decode[struct {
		Results []appliedBody `json:"results"`
	}](t, e.call("POST", "/v1/reviews/"+q+"/apply", "channel_manager", nil, 207))
	var got []string
	for _, r := range all.Results {
		s := r.PartnerID + ":" + r.Status
		if r.Problem != nil {
			s += ":" + r.Problem.Rule
		}
		got = append(got, s)
	}
	wantAll := "gf-1:applied gold-a:already_applied gold-b:applied gold-low:refused:review.stale plat-1:applied"
	if strings.Join(got, " ") != wantAll {
		t.Fatalf("apply all:\n got %s\nwant %s", strings.Join(got, " "), wantAll)
	}
	if p := e.problem("POST", "/v1/reviews/"+q+"/proposals/gold-low/apply", 409); p.Rule != "review.stale" {
		t.Fatalf("apply stale gold-low: rule %q", p.Rule)
	}
	again2 := decode[struct {
		Position int64         `json:"position"`
		Results  []appliedBody `json:"results"`
	}](t, e.call("POST", "/v1/reviews/"+q+"/apply", "admin", nil, 207))
	for _, r := range again2.Results {
		if r.PartnerID != "gold-low" && (r.Status != "already_applied" || len(r.Events) != 0) {
			t.Errorf("apply all twice: %+v", r)
		}
	}

	// The tiers proposed, and the seats within their capacity.
	for id, tier := range map[string]string{"gold-a": "platinum", "gold-b": "gold", "gf-1": "gold", "plat-1": "platinum", "gold-low": "registered"} {
		p := decode[struct {
			Tier string `json:"tier"`
		}](t, e.call("GET", "/v1/partners/"+id, "channel_manager", nil, 200))
		if p.Tier != tier {
			t.Errorf("%s is %s, want %s", id, p.Tier, tier)
		}
	}
	seats := decode[struct {
		Data struct {
			Tiers []struct {
				Tier       string `json:"tier"`
				Capacity   *int   `json:"capacity"`
				Used       int    `json:"used"`
				Waitlisted int    `json:"waitlisted"`
			} `json:"tiers"`
		} `json:"data"`
	}](t, e.call("GET", fmt.Sprintf("/v1/geographies/emea/seats?min_position=%d", again2.Position), "channel_manager", nil, 200))
	for _, tr := range seats.Data.Tiers {
		if tr.Tier == "platinum" && (tr.Capacity == nil || tr.Used != 2 || *tr.Capacity != 2 || tr.Waitlisted != 1) {
			t.Errorf("platinum seats: used %d of %v, %d waitlisted; want 2 of 2, gold-b waitlisted", tr.Used, tr.Capacity, tr.Waitlisted)
		}
	}
	view := decode[reviewBody](t, e.call("GET", "/v1/reviews/"+q, "auditor", nil, 200))
	for _, p := range view.Proposals {
		if p.Applied != (p.PartnerID != "gold-low") {
			t.Errorf("%s applied = %v", p.PartnerID, p.Applied)
		}
	}
	// The facts changed: a new revision.
	if r2 := decode[reviewRunBody](t, e.call("POST", "/v1/reviews/"+q, "channel_manager", nil, 201)); r2.Review.ReviewID != q+"-r2" || r2.Review.Revision != 2 {
		t.Fatalf("second revision: %+v", r2.Review)
	}
}

// problem sends a request as channel_manager and returns its problem body.
func (e *e2e) problem(method, path string, status int) struct {
	Rule string `json:"rule"`
} {
	e.t.Helper()
	return decode[struct {
		Rule string `json:"rule"`
	}](e.t, e.call(method, path, "channel_manager", nil, status))
}

// tierChangeCites checks that the partner's tier change at or before pos cites the review.
func (e *e2e) tierChangeCites(partner string, pos int64, reviewID string) {
	e.t.Helper()
	page := decode[struct {
		Events []struct {
			StreamID string          `json:"stream_id"`
			Type     string          `json:"type"`
			Data     json.RawMessage `json:"data"`
		} `json:"events"`
	}](e.t, e.call("GET", fmt.Sprintf("/v1/events?after=%d&limit=10", max(pos-5, 0)), "auditor", nil, 200))
	for _, ev := range page.Events {
		if ev.StreamID == "partner-"+partner && ev.Type == "partner.tier_changed" {
			tc := decode[struct {
				ReviewID string `json:"review_id"`
				Review   bool   `json:"review"`
			}](e.t, ev.Data)
			if tc.ReviewID != reviewID || !tc.Review {
				e.t.Fatalf("tier change of %s: %s", partner, ev.Data)
			}
			return
		}
	}
	e.t.Fatalf("no tier change of %s before position %d", partner, pos)
}
