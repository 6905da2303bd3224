package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"dealcredit/domain"
	"dealcredit/internal/backoff"
)

// Channel is what the demo saw the program do by itself (issue 15 item 7):
// a hot lead lapsing and cascading without anyone calling /cascade, and a
// field rep credited on the story's channel deal. Amounts are minor units of
// Summary.Currency.
type Channel struct {
	// The hot lead: offered to LeadFirst (LeadFirstTier) until RespondBy;
	// nobody answered; the scheduler (LapsedBy, the events' actor) recorded
	// the lapse at LapsedAt (at or after RespondBy) and offered it to
	// CascadedTo (CascadedTier) until CascadedUntil, the policy's window.
	LeadID        string
	LeadFirst     string
	LeadFirstTier string
	RespondBy     time.Time
	LapsedAt      time.Time
	CascadedTo    string
	CascadedTier  string
	CascadedUntil time.Time
	LapseEvents   int    // lead.declined events with expired true on the lead's stream
	LapsedBy      string // the actor of the lapse and of the next offer
	// Waited is how long after RespondBy the scheduler recorded the lapse.
	Waited time.Duration

	// The field rep RepID covers RepGeography/RepSizeBand, the story deal's
	// territory; its credit on the HP invoice is RepBase (the platinum's
	// revenue lines) at RepShareBPS (the policy's field_rep_bps), per line.
	RepID        string
	RepName      string
	RepGeography string
	RepSizeBand  string
	RepShareBPS  int64
	RepBase      int64
	RepExpected  int64 // per line, ApplyBPS(line, RepShareBPS), summed
	RepCredit    int64 // the rep's field_rep ledger rows on the HP invoice
	// The rep's statement of the quarter in Summary.Currency, as served:
	// on a daemon that ran the demo before, it also holds earlier runs' deals
	// of the same territory dated from the rep's enrolment on.
	StatementCredit int64
	StatementLines  int
	StatementDeals  int
}

// hotLeadWindow is how far ahead of the daemon's clock the hot lead's
// respond_by is: long enough for the create to arrive, short enough to
// watch the lapse.
const hotLeadWindow = 5 * time.Second

// repSizeBand is the customer size band of the story's deal and of its rep.
const repSizeBand = "enterprise"

// channel shows the program running by itself: a lead lapsing and
// cascading at its deadline (the daemon's scheduler), and a field rep
// credited on the channel deal that closed on HP's invoice.
func (s *story) channel(ctx context.Context) error {
	s.header("The program runs by itself: a hot lead lapses and cascades; a field rep is credited")
	var pol struct {
		InForce struct {
			LeadAcceptHours int   `json:"lead_accept_hours"`
			FieldRepBPS     int64 `json:"field_rep_bps"`
		} `json:"in_force"`
	}
	// Also refreshes the daemon's clock, which the hot lead's respond_by is set from.
	if _, err := s.c.expect(ctx, http.MethodGet, "/v1/policy", "channel_manager", nil, &pol, http.StatusOK); err != nil {
		return err
	}
	if err := s.hotLead(ctx, pol.InForce.LeadAcceptHours); err != nil {
		return err
	}
	return s.fieldRep(ctx, pol.InForce.FieldRepBPS)
}

// leadView is the part of GET /v1/leads/{id} the demo reads.
type leadView struct {
	Status    string `json:"status"`
	PartnerID string `json:"partner_id"`
	Offers    []struct {
		PartnerID string     `json:"partner_id"`
		Tier      string     `json:"tier"`
		Deadline  time.Time  `json:"deadline"`
		Outcome   string     `json:"outcome"`
		At        *time.Time `json:"at"`
	} `json:"offers"`
}

// hotLead creates a us-west lead whose first offer must be answered within
// seconds, lets it lapse and waits (bounded) for the scheduler to cascade it.
func (s *story) hotLead(ctx context.Context, acceptHours int) error {
	ch := &s.sum.Channel
	ch.LeadID = "lead-" + s.opt.RunID + "-hot"
	now := s.c.now()
	if now.IsZero() {
		now = time.Now()
	}
	ch.RespondBy = now.UTC().Add(hotLeadWindow)
	var created struct {
		leadResult
		Position int64 `json:"position"`
	}
	if _, err := s.c.expect(ctx, http.MethodPost, "/v1/leads", "channel_manager", map[string]any{
		"id": ch.LeadID, "geography": "us-west", "source": "campaign", "source_name": "Altiris server management webinar (asked for a call back today)",
		"customer":   map[string]string{"name": "Initech " + s.opt.RunID + " Inc", "country": "US", "domain": "initech-" + s.opt.RunID + ".example"},
		"respond_by": ch.RespondBy.Format(time.RFC3339),
	}, &created, http.StatusCreated); err != nil {
		return err
	}
	ch.LeadFirst, ch.LeadFirstTier = created.PartnerID, created.Tier
	s.printf("   lead %s (campaign, us-west): offered to %s (%s), respond by %s (%s ahead, sooner than the policy's %d h)\n",
		ch.LeadID, created.PartnerID, created.Tier, ch.RespondBy.Format(time.RFC3339), hotLeadWindow, acceptHours)
	s.printf("   nobody answers and nobody calls /cascade; the demo only reads the lead until it moves\n")
	v, err := s.waitLapse(ctx, ch.LeadID, ch.RespondBy.Add(s.opt.Wait))
	if err != nil {
		return err
	}
	first, next := v.Offers[0], v.Offers[1]
	ch.LapsedAt, ch.CascadedTo, ch.CascadedTier, ch.CascadedUntil = *first.At, next.PartnerID, next.Tier, next.Deadline
	ch.Waited = ch.LapsedAt.Sub(ch.RespondBy)
	if err := s.lapseEvents(ctx, ch, created.Position); err != nil {
		return err
	}
	s.printf("   lapsed at %s, offered to %s (%s) by the %s at %s (%d lapse event, actor %q); %s has until %s\n",
		first.Deadline.Format(time.RFC3339), ch.CascadedTo, ch.CascadedTier, ch.LapsedBy, ch.LapsedAt.Format(time.RFC3339),
		ch.LapseEvents, ch.LapsedBy, ch.CascadedTo, ch.CascadedUntil.Format(time.RFC3339))
	if ch.LapseEvents != 1 || ch.LapsedBy != "scheduler" || first.Outcome != "expired" {
		return fmt.Errorf("demo: lead %s: %d lapse events by %q (outcome %s), want one by the scheduler", ch.LeadID, ch.LapseEvents, ch.LapsedBy, first.Outcome)
	}
	return nil
}

// waitLapse polls the lead (read from its stream, always current) until
// its first offer expired and a second one was made, or until deadline.
func (s *story) waitLapse(ctx context.Context, id string, deadline time.Time) (leadView, error) {
	for {
		var v leadView
		if _, err := s.c.expect(ctx, http.MethodGet, "/v1/leads/"+id, "channel_manager", nil, &v, http.StatusOK); err != nil {
			return v, err
		}
		switch {
		case len(v.Offers) >= 2 && v.Offers[0].At != nil:
			return v, nil
		case v.Status != "offered":
			return v, fmt.Errorf("demo: lead %s is %s, want its offer to move to the next partner", id, v.Status)
		case time.Now().After(deadline):
			return v, fmt.Errorf("demo: lead %s still offered to %s at %s, its deadline %s passed: is the daemon's scheduler on "+
				"(dealcreditd without --no-scheduler; --schedule-interval below %s)?", id, v.PartnerID, time.Now().UTC().Format(time.RFC3339),
				v.Offers[0].Deadline.Format(time.RFC3339), s.opt.Wait)
		}
		if err := backoff.Sleep(ctx, 200*time.Millisecond); err != nil {
			return v, err
		}
	}
}

// lapseEvents reads the log as an auditor from the lead's creation on and
// counts the lead's lapses (lead.declined, expired) and who appended them.
func (s *story) lapseEvents(ctx context.Context, ch *Channel, after int64) error {
	stream := domain.LeadStream(ch.LeadID)
	after--
	for {
		var page struct {
			Events []struct {
				Position int64           `json:"position"`
				StreamID string          `json:"stream_id"`
				Type     string          `json:"type"`
				Data     json.RawMessage `json:"data"`
				Metadata struct {
					Actor string `json:"actor"`
				} `json:"metadata"`
			} `json:"events"`
		}
		path := "/v1/events?limit=1000&after=" + strconv.FormatInt(after, 10)
		if _, err := s.c.expect(ctx, http.MethodGet, path, "auditor", nil, &page, http.StatusOK); err != nil {
			return err
		}
		if len(page.Events) == 0 {
			return nil
		}
		for _, e := range page.Events {
			after = e.Position
			if e.StreamID != stream || e.Type != "lead.declined" {
				continue
			}
			var d domain.LeadDeclined
			if err := json.Unmarshal(e.Data, &d); err != nil {
				return fmt.Errorf("demo: lead.declined at %d: %w", e.Position, err)
			}
			if d.Expired {
				ch.LapseEvents++
				ch.LapsedBy = e.Metadata.Actor
			}
		}
	}
}

// fieldRep enrols the field rep of the story deal's territory (us-west,
// enterprise) and shows its credit on HP's invoice: the rule re-attributes
// the lines dated from the rep's first day, so the deal that closed on
// today's invoice credits the rep at the policy's field_rep_bps.
func (s *story) fieldRep(ctx context.Context, shareBPS int64) error {
	ch := &s.sum.Channel
	ch.RepID, ch.RepName, ch.RepGeography, ch.RepSizeBand, ch.RepShareBPS = "rep-"+s.opt.RunID, "Dana Reyes", "us-west", repSizeBand, shareBPS
	if _, err := s.c.expect(ctx, http.MethodPut, "/v1/reps/"+ch.RepID, "channel_manager",
		map[string]string{"name": ch.RepName, "geography": ch.RepGeography, "size_band": ch.RepSizeBand}, nil, http.StatusOK, http.StatusConflict); err != nil {
		return err
	}
	s.printf("   field rep %s (%s) enrolled for %s/%s from %s (\"incented financially to put transactions through a channel\");\n",
		ch.RepID, ch.RepName, ch.RepGeography, ch.RepSizeBand, s.today)
	s.printf("   the lines dated from the rep's first day are re-attributed, so today's HP invoice credits the rep too\n")
	partner, _, err := s.ledger(ctx, s.quarter, s.platinum)
	if err != nil {
		return err
	}
	for _, l := range partner {
		if l.InvoiceNumber == s.hpInvoice && l.Kind == string(domain.CreditRevenue) && l.Currency == currency {
			ch.RepBase += l.minor()
			ch.RepExpected += domain.ApplyBPS(l.minor(), shareBPS)
		}
	}
	rep, _, err := s.ledger(ctx, s.quarter, ch.RepID)
	if err != nil {
		return err
	}
	reason := ""
	for _, l := range rep {
		if l.InvoiceNumber == s.hpInvoice && l.Kind == string(domain.CreditFieldRep) && l.Currency == currency {
			ch.RepCredit += l.minor()
			reason = l.Reason
		}
	}
	s.printf("   deal %s (us-west, %s) closed on %s: %s credited %s = %s of channel revenue x %d bps (field_rep_bps)\n",
		s.sum.DealID, repSizeBand, s.hpInvoice, ch.RepID, s.money(ch.RepCredit), s.money(ch.RepBase), shareBPS)
	s.printf("   why: %s\n", reason)
	if ch.RepCredit != ch.RepExpected || ch.RepBase == 0 {
		return fmt.Errorf("demo: rep %s credited %d on %s, want %d (%d bps of %d)", ch.RepID, ch.RepCredit, s.hpInvoice, ch.RepExpected, shareBPS, ch.RepBase)
	}
	return s.repStatement(ctx, ch)
}

// repStatement prints the rep's statement of the quarter.
func (s *story) repStatement(ctx context.Context, ch *Channel) error {
	var rows []struct {
		Currency string `json:"currency"`
		Credit   int64  `json:"credit_minor"`
		Lines    int    `json:"lines"`
		Deals    int    `json:"deals"`
	}
	if _, err := s.c.query(ctx, "/v1/reps/"+ch.RepID+"/statements/"+s.quarter.String(), "finance", &rows); err != nil {
		return err
	}
	for _, r := range rows {
		if r.Currency == currency {
			ch.StatementCredit, ch.StatementLines, ch.StatementDeals = r.Credit, r.Lines, r.Deals
		}
	}
	s.printf("   statement %s %s: credit %s on %d lines of %d deal(s) (GET /v1/reps/%s/statements/%s)\n",
		ch.RepID, s.quarter, s.money(ch.StatementCredit), ch.StatementLines, ch.StatementDeals, ch.RepID, s.quarter)
	if ch.StatementCredit < ch.RepCredit {
		return fmt.Errorf("demo: rep %s statement credit %d is below its credit %d on %s", ch.RepID, ch.StatementCredit, ch.RepCredit, s.hpInvoice)
	}
	return nil
}

// channelSummary prints the summary's lines of the channel step.
func (s *story) channelSummary() {
	ch := s.sum.Channel
	s.printf("   hot lead %s: %s (%s) let it lapse at %s; the %s offered it to %s (%s), %d lapse event\n",
		ch.LeadID, ch.LeadFirst, ch.LeadFirstTier, ch.RespondBy.Format(time.RFC3339), ch.LapsedBy, ch.CascadedTo, ch.CascadedTier, ch.LapseEvents)
	s.printf("   field rep %s (%s/%s) credited %s at %d bps\n", ch.RepID, ch.RepGeography, ch.RepSizeBand, s.money(ch.RepCredit), ch.RepShareBPS)
}
