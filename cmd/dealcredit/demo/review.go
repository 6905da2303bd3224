package demo

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// ReviewSummary is the tier review step: the quarter's review run, what it
// proposes, and the run's Gold partner's proposal applied.
type ReviewSummary struct {
	ID            string         // the review's id, e.g. 2026Q4-r1
	Proposals     int            // proposals, one per partner (OEMs aside)
	Actions       map[string]int // proposals per action (promote, demote, keep, grandfathered, waitlist)
	Grandfathered int            // grandfathered partners kept until their review date
	PlatinumPlan  string         // the Platinum VAR's proposal: "demote platinum->registered"
	GoldPlan      string         // the run's Gold partner's proposal
	GoldApplied   string         // what applying it did: "applied" (or "already_applied")
	GoldTierAfter string         // the Gold partner's tier afterwards
	PartnerSees   int            // proposals the Platinum VAR's own token sees (1), -1 without a partner token
}

// reviewProposal is one proposal as the demo reads it.
type reviewProposal struct {
	PartnerID string `json:"partner_id"`
	From      string `json:"from"`
	To        string `json:"to"`
	Action    string `json:"action"`
	Reason    string `json:"reason"`
}

func (p reviewProposal) plan() string { return p.Action + " " + p.From + "->" + p.To }

// review runs the story quarter's tier review, shows its proposals and
// applies one: the Gold partner's, whose credited revenue is nothing.
func (s *story) review(ctx context.Context) error {
	s.header(fmt.Sprintf("The %s tier review: \"through performance, execution and commitment, you'll end up with three levels\"", s.quarter))
	var run struct {
		New    bool `json:"new"`
		Review struct {
			ReviewID  string           `json:"review_id"`
			Proposals []reviewProposal `json:"proposals"`
		} `json:"review"`
	}
	path := "/v1/reviews/" + s.quarter.String()
	if _, err := s.c.expect(ctx, http.MethodPost, path, "channel_manager", nil, &run, http.StatusCreated, http.StatusOK); err != nil {
		return err
	}
	sum := &s.sum.Review
	sum.ID, sum.Proposals, sum.Actions = run.Review.ReviewID, len(run.Review.Proposals), map[string]int{}
	for _, p := range run.Review.Proposals {
		sum.Actions[p.Action]++
		switch p.PartnerID {
		case s.platinum:
			sum.PlatinumPlan = p.plan()
		case s.gold:
			sum.GoldPlan = p.plan()
		}
	}
	sum.Grandfathered = sum.Actions["grandfathered"]
	s.printf("   review %s: %d partners scored on their credited revenue in %s (%s)\n", sum.ID, sum.Proposals, s.quarter, actionCounts(sum.Actions))
	s.printf("   %-22s %s (credited revenue below the Platinum and Gold minimum targets)\n", s.platinum, sum.PlatinumPlan)
	s.printf("   %-22s %s\n", s.gold, sum.GoldPlan)
	s.printf("   %d grandfathered Golds kept until their review date\n", sum.Grandfathered)
	if sum.GoldPlan == "" {
		return fmt.Errorf("demo: review %s has no proposal for %s", sum.ID, s.gold)
	}
	var applied struct {
		Status string   `json:"status"`
		Events []string `json:"events"`
	}
	if _, err := s.c.expect(ctx, http.MethodPost, path+"/proposals/"+s.gold+"/apply", "channel_manager", nil, &applied, http.StatusOK); err != nil {
		return err
	}
	var p struct {
		Tier string `json:"tier"`
	}
	if _, err := s.c.expect(ctx, http.MethodGet, "/v1/partners/"+s.gold, "channel_manager", nil, &p, http.StatusOK); err != nil {
		return err
	}
	sum.GoldApplied, sum.GoldTierAfter = applied.Status, p.Tier
	s.printf("   the channel manager applies %s's proposal: %s (%s); %s is now %s\n", s.gold, applied.Status, strings.Join(applied.Events, ", "), s.gold, p.Tier)
	return s.ownReview(ctx, path)
}

// ownReview shows that the Platinum VAR's own token sees its own proposal only.
func (s *story) ownReview(ctx context.Context, path string) error {
	s.sum.Review.PartnerSees = -1
	if !strings.HasPrefix(s.platinumRole, "partner:") {
		return nil
	}
	var own struct {
		Proposals []reviewProposal `json:"proposals"`
	}
	if _, err := s.c.expect(ctx, http.MethodGet, path, s.platinumRole, nil, &own, http.StatusOK); err != nil {
		return err
	}
	s.sum.Review.PartnerSees = len(own.Proposals)
	s.printf("   %s reads the review with its own token: %d proposal, its own\n", s.platinum, len(own.Proposals))
	return nil
}

// actionCounts formats proposals per action, by action.
func actionCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
