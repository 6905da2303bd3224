// Package demo plays the interview's story (Greg Butterfield on the Altiris
// partner program) end to end against a running daemon: real HTTP calls,
// real OEM invoices on JetStream, then an auditor's verify and replay. It
// prints what a channel chief wants to see and returns the numbers it
// printed, so a test can assert them.
//
// Business dates follow the daemon's clock: approvals and tier changes are
// dated today, so the deal's invoices are dated today and the story's
// quarter is the current one; the quarter that is closed (and then receives
// a late credit memo as an adjustment) is the previous one.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/api"
	"dealcredit/consumers/ingest"
	"dealcredit/consumers/oemfeed"
	"dealcredit/domain"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/backoff"
	"dealcredit/internal/pgdb"
)

// Options say where the daemon is and how to reach it.
type Options struct {
	// BaseURL is the daemon's HTTP API, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Tokens are the daemon's API tokens (its tokens file); admin,
	// channel_manager, finance and auditor are required. The platinum VAR is
	// the partner of the first partner token (enrolled by the demo), or
	// var-demo acting through the channel manager when there is none.
	Tokens api.Tokens
	// JetStream publishes the OEM feeds and reads the event mirror.
	JetStream jetstream.JetStream
	// DatabaseURL is the daemon's database, read by the auditor's verify and replay.
	DatabaseURL string
	// RunID makes the demo's ids unique (customers, invoices, partners other
	// than the token's); empty derives one from the clock.
	RunID string
	// Wait bounds each wait for an invoice to be ingested or the mirror to
	// catch up (default 30 s).
	Wait time.Duration
	// HTTPClient sends the API calls (default: a client with a 2 min timeout: grandfathering the story's 250 partners is one request).
	HTTPClient *http.Client
	// Command is how the reader runs the CLI, for the next commands the
	// demo prints (default "dealcredit").
	Command string
}

// Summary is the story's numbers, as printed. Amounts are minor units of Currency.
type Summary struct {
	RunID         string
	Today         string // the daemon's date the story is dated on
	Quarter       string // the story's quarter (the current one)
	ClosedQuarter string // the quarter closed before the late credit memo
	Currency      string
	PlatinumID    string
	DealID        string

	Grandfathered int    // partners grandfathered as gold
	RefusedRule   string // the rule that refused the registered partner's deal

	// The scarce us-west lead: first offered to LeadFirst (LeadFirstTier),
	// declined with LeadReason, cascaded to LeadCascadedTo (LeadCascadedTier)
	// and accepted by LeadAcceptedBy.
	LeadID           string
	LeadFirst        string
	LeadFirstTier    string
	LeadReason       string
	LeadCascadedTo   string
	LeadCascadedTier string
	LeadAcceptedBy   string
	// us-west seats used per tier, from the leads-and-seats read model.
	SeatsPlatinumUsed int
	SeatsGoldUsed     int

	CreditedRevenue int64 // the platinum VAR's revenue credit on the HP invoice
	Rebate          int64 // its rebate at RebateBPS
	RebateBPS       int64 // Rebate / CreditedRevenue in basis points, as booked
	ServiceCredit   int64 // the services line HP handed to the VAR
	Exceptions      int   // open exceptions of the Dell invoice
	Adjustment      int64 // the late credit memo, booked in Quarter for ClosedQuarter
	Direct          int64 // Quarter's direct revenue
	Indirect        int64 // Quarter's indirect revenue
	IndirectBPS     int64 // Quarter's indirect share in basis points

	VerifyOK       bool
	LogEvents      int64 // events whose hash chain holds
	MirrorChecked  int64 // events the JetStream mirror matched
	ReplayPosition int64 // the as-of position of the replay
	ReplayMatches  bool  // the replay reproduced every number above

	// Channel is the program running by itself: a lapsed lead, a rep's credit.
	Channel Channel
	// Finance is finance's week (finance.go).
	Finance Finance
	// Review is the quarter's tier review, run and applied (review.go).
	Review ReviewSummary

	// Next are the commands the demo suggests after its summary, with this
	// run's values (invoice number, quarter), ready to copy and paste.
	Next []string
}

// The story's invoice amounts (USD cents). Software 690,000 + services
// 120,000 + the Dell line 60,000 = 870,000 indirect; maintenance 100,000 +
// support 30,000 = 130,000 direct: 87.00%. The 20,000 memo of the closed
// quarter stands apart, as an adjustment.
const (
	currency       = "USD"
	clientAmount   = 100 * 4500
	serverAmount   = 20 * 12000
	maintAmount    = 100000
	supportAmount  = 30000
	servicesAmount = 120000
	dellAmount     = 60000
	renewalAmount  = 200000
	memoAmount     = 20000
	platinumBPS    = 800
	goldBPS        = 500
	grandfathered  = 250
)

// story is the state of one run.
type story struct {
	c   *client
	js  jetstream.JetStream
	out io.Writer
	opt Options
	sum Summary

	today   domain.Date
	quarter domain.Quarter
	closed  domain.Quarter

	platinum, platinumRole string
	gold, registered       string
	customer, dellCustomer oemfeed.Customer

	hpInvoice, hpServices, dellInvoice, hpRenewal, hpMemo string

	eventsAfter int64
	step        int
}

// Run plays the story against the daemon and writes it to out.
func Run(ctx context.Context, opts Options, out io.Writer) (Summary, error) {
	if opts.BaseURL == "" || opts.JetStream == nil || opts.DatabaseURL == "" {
		return Summary{}, errors.New("demo: BaseURL, JetStream and DatabaseURL are required")
	}
	if opts.Wait <= 0 {
		opts.Wait = 30 * time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 2 * time.Minute}
	}
	if opts.Command == "" {
		opts.Command = "dealcredit"
	}
	if opts.RunID == "" {
		opts.RunID = strconv.FormatInt(time.Now().Unix()%(36*36*36*36*36), 36)
	}
	c, err := newClient(opts.BaseURL, opts.HTTPClient, opts.Tokens)
	if err != nil {
		return Summary{}, err
	}
	s := &story{c: c, js: opts.JetStream, out: out, opt: opts}
	s.sum.RunID, s.sum.Currency = opts.RunID, currency
	steps := []func(context.Context) error{
		s.start, s.seats, s.partners, s.policy, s.register, s.hpInvoiceArrives, s.dellException,
		s.serviceHandoff, s.leads, s.channel, s.refusal, s.quarterClose, s.revenueMix,
		s.financeWeek,
		s.review,
		s.verify, s.replay,
	}
	for _, st := range steps {
		if err := st(ctx); err != nil {
			s.printf("\nFAILED: %v\n", err)
			return s.sum, err
		}
	}
	s.summary()
	return s.sum, nil
}

func (s *story) printf(format string, args ...any) { fmt.Fprintf(s.out, format, args...) }

func (s *story) header(title string) {
	s.step++
	s.printf("\n%d. %s\n", s.step, title)
}

func (s *story) money(minor int64) string {
	return domain.Money{Amount: minor, Currency: currency}.Major()
}

func formatBPS(bps int64) string { return fmt.Sprintf("%d.%02d%%", bps/100, bps%100) }

// start reads the daemon's clock and names the run's partners and invoices.
func (s *story) start(ctx context.Context) error {
	if _, err := s.c.expect(ctx, http.MethodGet, "/v1/policy", "admin", nil, nil, http.StatusOK); err != nil {
		return err
	}
	now := s.c.now()
	if now.IsZero() {
		now = time.Now()
	}
	s.today = domain.DateOf(now.UTC())
	s.quarter = s.today.Quarter()
	s.closed = s.quarter.Prev()
	run := s.opt.RunID
	s.platinum, s.platinumRole = "var-demo", "channel_manager"
	for _, t := range s.opt.Tokens {
		if t.Role == api.RolePartner && t.PartnerID != "" {
			s.platinum, s.platinumRole = t.PartnerID, "partner:"+t.PartnerID
			break
		}
	}
	s.gold, s.registered = "var-gold-"+run, "var-new-"+run
	s.customer = oemfeed.Customer{OEMAccountID: "HP-C-" + run, Name: "Acme " + run + " Corp", Country: "US", Domain: "acme-" + run + ".example"}
	s.dellCustomer = oemfeed.Customer{OEMAccountID: "DL-C-" + run, Name: "Globex " + run + " Inc", Country: "US", Domain: "globex-" + run + ".example"}
	s.hpInvoice, s.hpServices = "HP-"+run+"-0001", "HP-"+run+"-0002"
	s.hpRenewal, s.hpMemo = "HP-"+run+"-0000", "HP-"+run+"-CM01"
	s.dellInvoice = "DELL-" + run + "-0001"
	s.sum.Today, s.sum.Quarter, s.sum.ClosedQuarter, s.sum.PlatinumID = s.today.String(), s.quarter.String(), s.closed.String(), s.platinum
	s.printf("dealcredit demo: the Altiris partner program, end to end (run %s)\n", run)
	s.printf("daemon %s, today %s: the story's quarter is %s, the last closed one will be %s\n", s.opt.BaseURL, s.today, s.quarter, s.closed)
	return nil
}

// ok2xx accepts a command that succeeded now or already took effect in an
// earlier run against the same daemon (409).
var ok2xx = []int{http.StatusOK, http.StatusCreated, http.StatusConflict}

func (s *story) seats(ctx context.Context) error {
	s.header("Seats per geography: \"a geography will only warrant X number of Platinums or Golds\"")
	for _, g := range []struct {
		geo            string
		platinum, gold int
	}{{"us-west", 2, 50}, {"us-east", 1, 100}, {"emea", 1, 100}, {"apac", 1, 100}} {
		if _, err := s.c.expect(ctx, http.MethodPut, "/v1/geographies/"+g.geo+"/seats", "admin",
			map[string]int{"platinum": g.platinum, "gold": g.gold}, nil, http.StatusOK, http.StatusConflict); err != nil {
			return err
		}
		s.printf("   %-8s platinum seats %d, gold seats %d\n", g.geo, g.platinum, g.gold)
	}
	return nil
}

func (s *story) partners(ctx context.Context) error {
	s.header("Partners enrolled: Platinum, Gold, 250 grandfathered Golds, OEMs HP and Dell")
	certAgo := s.today.AddDays(-20).String()
	if err := s.platinumPartner(ctx, certAgo); err != nil {
		return err
	}
	if err := s.goldPartner(ctx, certAgo); err != nil {
		return err
	}
	if err := s.grandfather(ctx); err != nil {
		return err
	}
	for _, o := range []struct{ id, name string }{{"hp", "HP"}, {"dell", "Dell"}} {
		if err := s.enroll(ctx, o.id, o.name, "oem", "us-west"); err != nil {
			return err
		}
	}
	s.printf("   OEMs hp and dell enrolled: each gets its own invoice stream (%s, %s)\n", ingest.StreamName("hp"), ingest.StreamName("dell"))
	if err := s.enroll(ctx, s.registered, "Newcomer Tech "+s.opt.RunID, "var", "us-east"); err != nil {
		return err
	}
	s.printf("   %-22s %-9s us-east  just signed up\n", s.registered, "registered")
	return nil
}

// enroll enrolls a partner (201, or 409 when an earlier run did).
func (s *story) enroll(ctx context.Context, id, name, kind, geo string) error {
	_, err := s.c.expect(ctx, http.MethodPost, "/v1/partners", "channel_manager",
		map[string]string{"id": id, "name": name, "kind": kind, "geography": geo}, nil, http.StatusCreated, http.StatusConflict)
	return err
}

// platinumPartner brings the Platinum partner to its tier: two certified
// engineers, all three segments, the higher target.
func (s *story) platinumPartner(ctx context.Context, certAgo string) error {
	if err := s.enroll(ctx, s.platinum, "Summit Systems", "var", "us-west"); err != nil {
		return err
	}
	// A partner's own certification counts once a channel manager confirms it (rule 3a).
	for _, eng := range []string{"ann.lee", "bo.chen"} {
		var cert struct {
			ID     string `json:"certification_id"`
			Status string `json:"status"`
		}
		if _, err := s.c.expect(ctx, http.MethodPost, "/v1/partners/"+s.platinum+"/certifications", s.platinumRole,
			map[string]string{"engineer": eng, "segment": "client_management", "certified_on": certAgo}, &cert, ok2xx...); err != nil {
			return err
		}
		if cert.Status == "pending" {
			if _, err := s.c.expect(ctx, http.MethodPost, "/v1/partners/"+s.platinum+"/certifications/"+cert.ID+"/confirm", "channel_manager",
				nil, nil, ok2xx...); err != nil {
				return err
			}
		}
	}
	if _, err := s.c.expect(ctx, http.MethodPost, "/v1/partners/"+s.platinum+"/commitments", s.platinumRole, map[string]any{
		"segments": []string{"client_management", "server_management", "asset_management"}, "quarterly_target_minor": 30_000_000, "currency": currency,
	}, nil, ok2xx...); err != nil {
		return err
	}
	if _, err := s.c.expect(ctx, http.MethodPost, "/v1/partners/"+s.platinum+"/tier", "channel_manager",
		map[string]string{"tier": "platinum", "reason": "two certified engineers, all three segments, 300,000.00 USD a quarter"}, nil, ok2xx...); err != nil {
		return err
	}
	var p struct {
		Tier           string            `json:"tier"`
		Certifications []json.RawMessage `json:"certifications"`
		Segments       []string          `json:"segments"`
	}
	if _, err := s.c.expect(ctx, http.MethodGet, "/v1/partners/"+s.platinum, "channel_manager", nil, &p, http.StatusOK); err != nil {
		return err
	}
	if p.Tier != "platinum" {
		return fmt.Errorf("demo: %s is %s, want platinum", s.platinum, p.Tier)
	}
	s.printf("   %-22s %-9s us-west  %d certified engineers, %d segments, target %s a quarter\n",
		s.platinum, p.Tier, len(p.Certifications), len(p.Segments), s.money(30_000_000))
	return nil
}

// goldPartner brings the Gold partner to its tier: one certified person,
// one segment, the lower target.
func (s *story) goldPartner(ctx context.Context, certAgo string) error {
	if err := s.enroll(ctx, s.gold, "Harbor IT "+s.opt.RunID, "var", "us-west"); err != nil {
		return err
	}
	if _, err := s.c.expect(ctx, http.MethodPost, "/v1/partners/"+s.gold+"/certifications", "channel_manager",
		map[string]string{"engineer": "cy.diaz", "segment": "asset_management", "certified_on": certAgo}, nil, http.StatusCreated); err != nil {
		return err
	}
	if _, err := s.c.expect(ctx, http.MethodPost, "/v1/partners/"+s.gold+"/commitments", "channel_manager", map[string]any{
		"segments": []string{"asset_management"}, "quarterly_target_minor": 6_000_000, "currency": currency,
	}, nil, http.StatusCreated); err != nil {
		return err
	}
	if _, err := s.c.expect(ctx, http.MethodPost, "/v1/partners/"+s.gold+"/tier", "channel_manager",
		map[string]string{"tier": "gold", "reason": "one certified person, one segment"}, nil, http.StatusOK); err != nil {
		return err
	}
	s.printf("   %-22s %-9s us-west  1 certified engineer, 1 segment, target %s a quarter\n", s.gold, "gold", s.money(6_000_000))
	return nil
}

// grandfather grandfathers the existing business partners as Gold.
func (s *story) grandfather(ctx context.Context) error {
	// "Current business partners will become Gold partners."
	geos := []string{"us-east", "emea", "apac"}
	list := make([]map[string]string, 0, grandfathered)
	perGeo := map[string]int{}
	for i := range grandfathered {
		kind := "var"
		if i%5 == 4 {
			kind = "si"
		}
		geo := geos[i%len(geos)]
		perGeo[geo]++
		list = append(list, map[string]string{"id": fmt.Sprintf("bp-%s-%03d", s.opt.RunID, i+1), "name": fmt.Sprintf("Business Partner %03d", i+1), "kind": kind, "geography": geo})
	}
	var gf struct {
		Results []struct {
			Status int `json:"status"`
		} `json:"results"`
	}
	if _, err := s.c.expect(ctx, http.MethodPost, "/v1/partners:grandfather", "admin", map[string]any{"partners": list}, &gf, http.StatusCreated); err != nil {
		return err
	}
	for _, r := range gf.Results {
		if r.Status == http.StatusCreated {
			s.sum.Grandfathered++
		}
	}
	s.printf("   %d existing partners grandfathered as Gold (us-east %d, emea %d, apac %d), seats honoured beyond capacity\n",
		s.sum.Grandfathered, perGeo["us-east"], perGeo["emea"], perGeo["apac"])
	return nil
}

func (s *story) policy(ctx context.Context) error {
	s.header("Program policy")
	var res commandResult
	if _, err := s.c.expect(ctx, http.MethodPut, "/v1/policy", "admin", map[string]any{
		"effective_from": s.today.String(), "rebate_bps": map[string]int{"gold": goldBPS, "platinum": platinumBPS},
		"registration_days": 90, "claim_grace_days": 30, "reason": "demo: partner program v1", "reporting_currency": currency,
	}, &res, http.StatusOK); err != nil {
		return err
	}
	s.printf("   version %s from %s: rebates gold %d bps, platinum %d bps; registrations protected 90 days; claims 30 days after the invoice; reporting in %s\n",
		res.ID, s.today, goldBPS, platinumBPS, currency)
	return nil
}

func (s *story) register(ctx context.Context) error {
	s.header(fmt.Sprintf("%s registers the %s deal in the portal; the channel manager approves it", s.platinum, s.customer.Name))
	var created struct {
		DealID string `json:"deal_id"`
		Status string `json:"status"`
	}
	r, err := s.c.do(ctx, http.MethodPost, "/v1/deals", s.platinumRole, map[string]any{
		"partner_id": s.platinum,
		"customer":   map[string]string{"name": s.customer.Name, "country": s.customer.Country, "domain": s.customer.Domain},
		"geography":  "us-west", "size_band": repSizeBand, "segments": []string{"client_management", "server_management", "asset_management"},
		"expected_value_minor": 900000, "currency": currency, "oem_id": "hp",
	}, "Idempotency-Key", "demo-"+s.opt.RunID+"-acme")
	if err != nil {
		return err
	}
	if r.Status != http.StatusCreated {
		return fmt.Errorf("demo: register deal: %d %s", r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Body, &created); err != nil {
		return fmt.Errorf("demo: register deal: %w", err)
	}
	s.sum.DealID = created.DealID
	s.printf("   deal %s: %s (%s), %s, expected %s, status %s\n", created.DealID, s.customer.Name, repSizeBand, "client+server+asset management", s.money(900000), created.Status)
	for _, step := range []string{"presales_support", "proof_of_concept"} {
		if _, err := s.c.expect(ctx, http.MethodPost, "/v1/deals/"+created.DealID+"/engagements", s.platinumRole,
			map[string]string{"step": step, "occurred_on": s.today.String(), "oem_id": "hp", "notes": "with HP's account team"}, nil, http.StatusCreated); err != nil {
			return err
		}
		s.printf("   %s logs %s with HP\n", s.platinum, step)
	}
	if _, err := s.c.expect(ctx, http.MethodPost, "/v1/deals/"+created.DealID+"/approve", "channel_manager", nil, nil, http.StatusOK); err != nil {
		return err
	}
	var d struct {
		Status    string `json:"status"`
		ExpiresOn string `json:"expires_on"`
	}
	if _, err := s.c.expect(ctx, http.MethodGet, "/v1/deals/"+created.DealID, "channel_manager", nil, &d, http.StatusOK); err != nil {
		return err
	}
	s.printf("   approved: %s, protected until %s\n", d.Status, d.ExpiresOn)
	return nil
}

// publish sends one invoice or credit memo on the OEM's subject with its Nats-Msg-Id.
func (s *story) publish(ctx context.Context, m oemfeed.Message) error {
	if err := s.waitStream(ctx, m.OEMID); err != nil {
		return err
	}
	m.Schema = oemfeed.SchemaV1
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("demo: encode %s: %w", m.InvoiceNumber, err)
	}
	msg := &nats.Msg{Subject: oemfeed.Subject(m.OEMID), Data: body, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, oemfeed.MsgID(m.OEMID, m.InvoiceNumber, m.Revision))
	if _, err := s.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("demo: publish %s on %s: %w", m.InvoiceNumber, msg.Subject, err)
	}
	return nil
}

// waitStream waits until the daemon created the OEM's invoice stream.
func (s *story) waitStream(ctx context.Context, oem string) error {
	deadline := time.Now().Add(s.opt.Wait)
	for {
		_, err := s.js.Stream(ctx, ingest.StreamName(oem))
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) || time.Now().After(deadline) {
			return fmt.Errorf("demo: OEM stream %s: %w", ingest.StreamName(oem), err)
		}
		if err := backoff.Sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// waitIngested polls the log (as an auditor) until the invoice's event is
// committed, and returns its position; a dead letter for it is an error.
func (s *story) waitIngested(ctx context.Context, oem, number string) (int64, error) {
	stream, rejections := domain.InvoiceStream(oem, number), domain.RejectionStream(oem)
	deadline := time.Now().Add(s.opt.Wait)
	for {
		var page struct {
			Events []struct {
				Position int64           `json:"position"`
				StreamID string          `json:"stream_id"`
				Data     json.RawMessage `json:"data"`
			} `json:"events"`
		}
		path := "/v1/events?limit=1000&after=" + strconv.FormatInt(s.eventsAfter, 10)
		if _, err := s.c.expect(ctx, http.MethodGet, path, "auditor", nil, &page, http.StatusOK); err != nil {
			return 0, err
		}
		for _, e := range page.Events {
			s.eventsAfter = e.Position
			switch {
			case e.StreamID == stream:
				s.c.observe(e.Position)
				return e.Position, nil
			case e.StreamID == rejections && strings.Contains(string(e.Data), number):
				return 0, fmt.Errorf("demo: %s was dead-lettered: %s", number, e.Data)
			}
		}
		if len(page.Events) == 0 {
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("demo: %s not ingested within %s", number, s.opt.Wait)
			}
			if err := backoff.Sleep(ctx, 50*time.Millisecond); err != nil {
				return 0, err
			}
		}
	}
}

func (s *story) ledger(ctx context.Context, quarter domain.Quarter, partnerID string) ([]ledgerLine, int64, error) {
	path := "/v1/attribution?quarter=" + quarter.String()
	if partnerID != "" {
		path += "&partner_id=" + url.QueryEscape(partnerID)
	}
	var raw json.RawMessage
	pos, err := s.c.query(ctx, path, "finance", &raw)
	if err != nil {
		return nil, 0, err
	}
	lines, err := decodeLedger(raw)
	return lines, pos, err
}

func (s *story) hpInvoiceArrives(ctx context.Context) error {
	s.header("The customer buys from HP: HP's invoice arrives on JetStream")
	m := oemfeed.Message{OEMID: "hp", InvoiceNumber: s.hpInvoice, Revision: 1, Kind: oemfeed.KindInvoice, InvoiceDate: s.today.String(),
		Currency: currency, Customer: s.customer, Lines: []oemfeed.Line{
			{Line: 1, SKU: "ALT-CMS-100", Segment: "client_management", Quantity: 100, UnitPriceMinor: 4500, AmountMinor: clientAmount},
			{Line: 2, SKU: "ALT-SMS-20", Segment: "server_management", Quantity: 20, UnitPriceMinor: 12000, AmountMinor: serverAmount},
			{Line: 3, SKU: "ALT-MNT-1Y", Segment: "maintenance", Quantity: 1, UnitPriceMinor: maintAmount, AmountMinor: maintAmount},
			{Line: 4, SKU: "ALT-SUP-1Y", Segment: "support", Quantity: 1, UnitPriceMinor: supportAmount, AmountMinor: supportAmount},
		}}
	if err := s.publish(ctx, m); err != nil {
		return err
	}
	s.printf("   published %s on %s (Nats-Msg-Id %s): %s total, dated %s\n", m.InvoiceNumber, oemfeed.Subject("hp"),
		oemfeed.MsgID("hp", m.InvoiceNumber, 1), s.money(m.TotalMinor()), m.InvoiceDate)
	pos, err := s.waitIngested(ctx, "hp", m.InvoiceNumber)
	if err != nil {
		return err
	}
	s.printf("   ingested at log position %d\n", pos)
	lines, _, err := s.ledger(ctx, s.quarter, s.platinum)
	if err != nil {
		return err
	}
	for _, l := range lines {
		if l.InvoiceNumber == s.hpInvoice {
			s.printf("   line %d %-18s %-8s %14s  %s\n", l.Line, l.Kind, l.PartnerID, s.money(l.minor()), l.Reason)
		}
	}
	f := figuresOf(lines, s)
	s.sum.CreditedRevenue, s.sum.Rebate = f.Credited, f.Rebate
	if f.Credited != 0 {
		// The rate the ledger actually applied, not the one the demo set.
		s.sum.RebateBPS = f.Rebate * 10000 / f.Credited
	}
	s.printf("   HP keeps its invoice; %s keeps the credit: revenue %s, rebate %s (platinum %d bps)\n",
		s.platinum, s.money(f.Credited), s.money(f.Rebate), platinumBPS)
	var raw json.RawMessage
	if _, err := s.c.query(ctx, "/v1/partners/"+s.platinum+"/statements/"+s.quarter.String(), "finance", &raw); err != nil {
		return err
	}
	// The statement is one object per currency (a list) or one object.
	var list []map[string]any
	if json.Unmarshal(raw, &list) != nil {
		var one map[string]any
		if err := json.Unmarshal(raw, &one); err != nil {
			return fmt.Errorf("demo: statement: %w", err)
		}
		list = []map[string]any{one}
	}
	for _, st := range list {
		s.printf("   statement %s %s: %s\n", s.platinum, s.quarter, scalars(st))
	}
	return nil
}

// scalars lists an object's top-level numbers and strings, sorted by key.
func scalars(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		switch v.(type) {
		case float64, string, bool:
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		switch v := m[k].(type) {
		case float64:
			parts = append(parts, fmt.Sprintf("%s=%d", k, int64(v)))
		default:
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return strings.Join(parts, " ")
}

func (s *story) dellException(ctx context.Context) error {
	s.header("A Dell invoice for a customer nobody registered lands in the exception queue")
	m := oemfeed.Message{OEMID: "dell", InvoiceNumber: s.dellInvoice, Revision: 1, Kind: oemfeed.KindInvoice, InvoiceDate: s.today.String(),
		Currency: currency, Customer: s.dellCustomer, Lines: []oemfeed.Line{
			{Line: 1, SKU: "ALT-AMS-10", Segment: "asset_management", Quantity: 10, UnitPriceMinor: dellAmount / 10, AmountMinor: dellAmount},
		}}
	if err := s.publish(ctx, m); err != nil {
		return err
	}
	if _, err := s.waitIngested(ctx, "dell", m.InvoiceNumber); err != nil {
		return err
	}
	lines, _, err := s.ledger(ctx, s.quarter, "")
	if err != nil {
		return err
	}
	f := figuresOf(lines, s)
	s.sum.Exceptions = f.Unattributed
	for _, l := range lines {
		if l.InvoiceNumber == s.dellInvoice {
			s.printf("   %s line %d %s %s: %s (%s)\n", l.InvoiceNumber, l.Line, l.Kind, s.money(l.minor()), l.Reason, "counted as indirect: it was sold through Dell")
		}
	}
	s.printf("   exceptions open for %s: %d\n", s.dellInvoice, s.sum.Exceptions)
	return nil
}

func (s *story) serviceHandoff(ctx context.Context) error {
	s.header("HP declines the service side; the VAR delivers it and gets the service credit")
	if _, err := s.c.expect(ctx, http.MethodPost, "/v1/deals/"+s.sum.DealID+"/service-handoff", "channel_manager",
		map[string]string{"oem_id": "hp", "to_partner_id": s.platinum}, nil, http.StatusOK); err != nil {
		return err
	}
	s.printf("   service handoff recorded: hp -> %s on deal %s\n", s.platinum, s.sum.DealID)
	m := oemfeed.Message{OEMID: "hp", InvoiceNumber: s.hpServices, Revision: 1, Kind: oemfeed.KindInvoice, InvoiceDate: s.today.String(),
		Currency: currency, Customer: s.customer, Lines: []oemfeed.Line{
			{Line: 1, SKU: "ALT-SVC-DEPLOY", Segment: "services", Quantity: 1, UnitPriceMinor: servicesAmount, AmountMinor: servicesAmount},
		}}
	if err := s.publish(ctx, m); err != nil {
		return err
	}
	if _, err := s.waitIngested(ctx, "hp", m.InvoiceNumber); err != nil {
		return err
	}
	lines, _, err := s.ledger(ctx, s.quarter, s.platinum)
	if err != nil {
		return err
	}
	s.sum.ServiceCredit = figuresOf(lines, s).Service
	s.printf("   %s services line: %s service credit %s\n", s.hpServices, s.platinum, s.money(s.sum.ServiceCredit))
	return nil
}

// leadResult is the answer of a lead command.
type leadResult struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	PartnerID string `json:"partner_id"`
	Tier      string `json:"tier"`
	Deadline  string `json:"deadline"`
}

// leads plays "Platinum is going to be taken care of first": one scarce
// campaign lead in us-west goes to the Platinum, which declines it with a
// reason; it cascades to a Gold of the geography, which takes it.
func (s *story) leads(ctx context.Context) error {
	s.header("Leads go to Platinum first: \"if you only have X number of leads, Platinum is going to be taken care of first\"")
	id := "lead-" + s.opt.RunID
	var l leadResult
	if _, err := s.c.expect(ctx, http.MethodPost, "/v1/leads", "channel_manager", map[string]any{
		"id": id, "geography": "us-west", "source": "campaign", "source_name": "Altiris asset management webinar",
		"customer": map[string]string{"name": "Umbrella " + s.opt.RunID + " Ltd", "country": "US", "domain": "umbrella-" + s.opt.RunID + ".example"},
	}, &l, http.StatusCreated); err != nil {
		return err
	}
	s.sum.LeadID, s.sum.LeadFirst, s.sum.LeadFirstTier = id, l.PartnerID, l.Tier
	s.printf("   lead %s (campaign, us-west, one lead for the whole geography): offered to %s (%s) until %s\n", id, l.PartnerID, l.Tier, l.Deadline)
	if l.PartnerID != s.platinum || l.Tier != "platinum" {
		return fmt.Errorf("demo: lead %s offered to %s (%s), want the platinum %s", id, l.PartnerID, l.Tier, s.platinum)
	}
	reason := "fully booked on the " + s.customer.Name + " rollout this quarter"
	l = leadResult{}
	if _, err := s.c.expect(ctx, http.MethodPost, "/v1/leads/"+id+"/reject", s.platinumRole, map[string]string{"reason": reason}, &l, http.StatusOK); err != nil {
		return err
	}
	s.sum.LeadReason, s.sum.LeadCascadedTo, s.sum.LeadCascadedTier = reason, l.PartnerID, l.Tier
	s.printf("   %s declines (reason: %s)\n", s.platinum, reason)
	s.printf("   the lead cascades to %s (%s), the next in line in us-west\n", l.PartnerID, l.Tier)
	if l.Status != "offered" || l.Tier != "gold" {
		return fmt.Errorf("demo: after the decline lead %s is %s to %s (%s), want offered to a gold", id, l.Status, l.PartnerID, l.Tier)
	}
	l = leadResult{}
	if _, err := s.c.expect(ctx, http.MethodPost, "/v1/leads/"+id+"/accept", "channel_manager", nil, &l, http.StatusOK); err != nil {
		return err
	}
	s.sum.LeadAcceptedBy = l.PartnerID
	s.printf("   %s accepts it (%s)\n", l.PartnerID, l.Status)
	var seats struct {
		Tiers []struct {
			Tier      string `json:"tier"`
			Unlimited bool   `json:"unlimited"`
			Capacity  *int   `json:"capacity"`
			Used      int    `json:"used"`
			Free      *int   `json:"free"`
		} `json:"tiers"`
	}
	if _, err := s.c.query(ctx, "/v1/geographies/us-west/seats", "channel_manager", &seats); err != nil {
		return err
	}
	parts := make([]string, 0, len(seats.Tiers))
	for _, t := range seats.Tiers {
		switch t.Tier {
		case "platinum":
			s.sum.SeatsPlatinumUsed = t.Used
		case "gold":
			s.sum.SeatsGoldUsed = t.Used
		}
		if t.Unlimited || t.Capacity == nil || t.Free == nil {
			parts = append(parts, fmt.Sprintf("%s %d used (unlimited)", t.Tier, t.Used))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d of %d used, %d free", t.Tier, t.Used, *t.Capacity, *t.Free))
	}
	s.printf("   us-west seats: %s\n", strings.Join(parts, "; "))
	return nil
}

func (s *story) refusal(ctx context.Context) error {
	s.header("A Registered partner tries to register a deal")
	p, err := s.c.refused(ctx, http.MethodPost, "/v1/deals", "channel_manager", map[string]any{
		"partner_id": s.registered,
		"customer":   map[string]string{"name": "Initrode " + s.opt.RunID, "country": "US", "domain": "initrode-" + s.opt.RunID + ".example"},
		"geography":  "us-east", "segments": []string{"client_management"}, "expected_value_minor": 100000, "currency": currency,
	}, http.StatusUnprocessableEntity)
	if err != nil {
		return err
	}
	s.sum.RefusedRule = p.Rule
	s.printf("   refused (%d, rule %s): %s\n", p.Status, p.Rule, p.Detail)
	return nil
}

func (s *story) quarterClose(ctx context.Context) error {
	s.header(fmt.Sprintf("Finance closes %s; a late HP credit memo becomes an adjustment in %s", s.closed, s.quarter))
	renewal := oemfeed.Message{OEMID: "hp", InvoiceNumber: s.hpRenewal, Revision: 1, Kind: oemfeed.KindInvoice, InvoiceDate: s.closed.End().String(),
		Currency: currency, Customer: s.customer, Lines: []oemfeed.Line{
			{Line: 1, SKU: "ALT-MNT-1Y", Segment: "maintenance", Quantity: 1, UnitPriceMinor: renewalAmount, AmountMinor: renewalAmount},
		}}
	if err := s.publish(ctx, renewal); err != nil {
		return err
	}
	if _, err := s.waitIngested(ctx, "hp", renewal.InvoiceNumber); err != nil {
		return err
	}
	s.printf("   %s: %s maintenance renewal dated %s (direct revenue of %s)\n", renewal.InvoiceNumber, s.money(renewalAmount), renewal.InvoiceDate, s.closed)
	r, err := s.c.do(ctx, http.MethodPost, "/v1/quarters/"+s.closed.String()+"/close", "finance", nil)
	if err != nil {
		return err
	}
	switch r.Status {
	case http.StatusOK:
		s.printf("   %s closed: its statements never change again\n", s.closed)
	case http.StatusConflict:
		s.printf("   %s was already closed by an earlier run\n", s.closed)
	default:
		return fmt.Errorf("demo: close %s: %d %s", s.closed, r.Status, r.Body)
	}
	var before json.RawMessage
	if _, err := s.c.query(ctx, "/v1/revenue-mix?quarter="+s.closed.String(), "finance", &before); err != nil {
		return err
	}
	memo := oemfeed.Message{OEMID: "hp", InvoiceNumber: s.hpMemo, Revision: 1, Kind: oemfeed.KindCreditMemo, CreditMemoFor: s.hpRenewal,
		InvoiceDate: s.closed.End().String(), Currency: currency, Customer: s.customer, Lines: []oemfeed.Line{
			{Line: 1, SKU: "ALT-MNT-1Y", Segment: "maintenance", Quantity: 1, UnitPriceMinor: memoAmount, AmountMinor: memoAmount},
		}}
	if err := s.publish(ctx, memo); err != nil {
		return err
	}
	if _, err := s.waitIngested(ctx, "hp", memo.InvoiceNumber); err != nil {
		return err
	}
	lines, _, err := s.ledger(ctx, s.quarter, "")
	if err != nil {
		return err
	}
	s.sum.Adjustment = figuresOf(lines, s).Adjustment
	for _, l := range lines {
		if (l.InvoiceNumber == s.hpMemo || l.InvoiceNumber == s.hpRenewal) && l.Adjustment {
			s.printf("   %s line %d %s %s booked in %s, adjusts %s: %s\n", l.InvoiceNumber, l.Line, l.Kind, s.money(l.minor()), l.Quarter, l.AdjustsQuarter, l.Reason)
		}
	}
	var after json.RawMessage
	if _, err := s.c.query(ctx, "/v1/revenue-mix?quarter="+s.closed.String(), "finance", &after); err != nil {
		return err
	}
	mb, errB := decodeMix(before, currency)
	ma, errA := decodeMix(after, currency)
	if errB != nil || errA != nil {
		return errors.Join(errB, errA)
	}
	if mb != ma {
		return fmt.Errorf("demo: closed quarter %s changed after the credit memo: %+v -> %+v", s.closed, mb, ma)
	}
	s.printf("   credit memo %s (dated %s) returns %s: adjustment %s in %s; %s unchanged (direct %s)\n",
		s.hpMemo, memo.InvoiceDate, s.money(memoAmount), s.money(s.sum.Adjustment), s.quarter, s.closed, s.money(ma.Direct))
	return nil
}

func (s *story) revenueMix(ctx context.Context) error {
	s.header(fmt.Sprintf("%s revenue mix: \"87 percent of our revenue indirect\"", s.quarter))
	var raw json.RawMessage
	if _, err := s.c.query(ctx, "/v1/revenue-mix?quarter="+s.quarter.String(), "finance", &raw); err != nil {
		return err
	}
	m, err := decodeMix(raw, currency)
	if err != nil {
		return err
	}
	s.sum.Direct, s.sum.Indirect, s.sum.IndirectBPS = m.Direct, m.Indirect, m.ShareBPS
	s.printf("   direct (maintenance, support) %s, indirect (partners and OEMs) %s: indirect share %s\n",
		s.money(m.Direct), s.money(m.Indirect), formatBPS(m.ShareBPS))
	s.printf("   apart from them, adjustments booked for closed quarters: direct %s, indirect %s\n",
		s.money(m.AdjDirect), s.money(m.AdjIndirect))
	return nil
}

// openStore connects to the daemon's database for the auditor's steps.
func (s *story) openStore(ctx context.Context) (*pgstore.Store, func(), error) {
	pool, err := pgdb.OpenPool(ctx, s.opt.DatabaseURL)
	if err != nil {
		return nil, nil, fmt.Errorf("demo: open database: %w", err)
	}
	store, err := pgstore.New(pool, pgstore.Options{})
	if err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("demo: open event store: %w", err)
	}
	return store, func() { store.Close(); pool.Close() }, nil
}

func (s *story) verify(ctx context.Context) error {
	s.header("The auditor verifies the log (Postgres hash chain and its JetStream mirror)")
	store, done, err := s.openStore(ctx)
	if err != nil {
		return err
	}
	defer done()
	res, err := verify(ctx, store, s.js, s.opt.Wait)
	if err != nil {
		return err
	}
	s.sum.VerifyOK, s.sum.LogEvents, s.sum.MirrorChecked = true, res.chain.Records, res.mirror.Checked
	s.printf("   ok log: %d events, chain holds, head %d hash %x\n", res.chain.Records, res.chain.Head, res.chain.HeadHash)
	s.printf("   ok mirror: %d events of %s match the log\n", res.mirror.Checked, "DEALCREDIT_EVENTS")
	return nil
}

func (s *story) replay(ctx context.Context) error {
	s.header("The auditor replays the log as of the position finance read, and gets the same numbers")
	// Read finance's final numbers once more, at one position, and replay exactly that prefix.
	lines, pos, err := s.ledger(ctx, s.quarter, "")
	if err != nil {
		return err
	}
	var raw json.RawMessage
	mixPos, err := s.c.query(ctx, "/v1/revenue-mix?quarter="+s.quarter.String(), "finance", &raw)
	if err != nil {
		return err
	}
	served, err := decodeMix(raw, currency)
	if err != nil {
		return err
	}
	store, done, err := s.openStore(ctx)
	if err != nil {
		return err
	}
	defer done()
	rp, err := replay(ctx, store, pos)
	if err != nil {
		return err
	}
	var inQuarter []domain.Credit
	for _, c := range rp.credits {
		if c.Quarter == s.quarter {
			inQuarter = append(inQuarter, c)
		}
	}
	got, want := figuresOf(fromCredits(inQuarter), s), figuresOf(lines, s)
	var rmix mixOf
	for _, m := range rp.program.RevenueMix(s.quarter) {
		if m.Currency == currency {
			rmix = mixFrom(m)
		}
	}
	openExc := 0
	for _, e := range rp.program.OpenExceptions() {
		if e.InvoiceNumber == s.dellInvoice {
			openExc++
			s.printf("   exception %s line %d %s: tried %s\n", e.InvoiceNumber, e.Line, s.money(e.Amount.Amount), strings.Join(e.Tried, "; "))
		}
	}
	s.sum.ReplayPosition = rp.position
	s.printf("   replay as of position %d: revenue %s, rebate %s, service %s, adjustment %s, %d exception(s), indirect share %s\n",
		rp.position, s.money(got.Credited), s.money(got.Rebate), s.money(got.Service), s.money(got.Adjustment), openExc, formatBPS(rmix.ShareBPS))
	var diffs []string
	if got != want {
		diffs = append(diffs, fmt.Sprintf("ledger %+v (replay) != %+v (read model at %d)", got, want, pos))
	}
	if openExc != want.Unattributed {
		diffs = append(diffs, fmt.Sprintf("%d open exceptions (replay) != %d unattributed lines", openExc, want.Unattributed))
	}
	switch {
	case mixPos != pos:
		// Nothing is appended between the two reads, so both must reflect one position.
		diffs = append(diffs, fmt.Sprintf("ledger read at position %d but revenue mix at %d", pos, mixPos))
	case rmix != served:
		diffs = append(diffs, fmt.Sprintf("revenue mix %+v (replay) != %+v (read model)", rmix, served))
	}
	if got.Credited != s.sum.CreditedRevenue || got.Rebate != s.sum.Rebate || got.Service != s.sum.ServiceCredit ||
		got.Adjustment != s.sum.Adjustment || rmix.ShareBPS != s.sum.IndirectBPS {
		diffs = append(diffs, fmt.Sprintf("replay %+v share %d differs from the numbers printed above", got, rmix.ShareBPS))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("demo: replay does not reproduce the read models: %s", strings.Join(diffs, "; "))
	}
	s.sum.ReplayMatches = true
	s.printf("   same numbers, to the cent, from the log alone\n")
	return nil
}

func (s *story) summary() {
	s.printf("\nSummary %s (run %s)\n", s.quarter, s.sum.RunID)
	s.printf("   credited revenue %s: %s\n", s.platinum, s.money(s.sum.CreditedRevenue))
	s.printf("   rebate (platinum %d bps): %s\n", s.sum.RebateBPS, s.money(s.sum.Rebate))
	s.printf("   service credit: %s\n", s.money(s.sum.ServiceCredit))
	s.printf("   exceptions open: %d\n", s.sum.Exceptions)
	s.printf("   adjustment in %s for %s: %s\n", s.quarter, s.closed, s.money(s.sum.Adjustment))
	s.printf("   indirect share %s: %s\n", s.quarter, formatBPS(s.sum.IndirectBPS))
	s.printf("   lead %s: %s (%s) first, declined; cascaded to %s (%s)\n", s.sum.LeadID, s.sum.LeadFirst, s.sum.LeadFirstTier, s.sum.LeadCascadedTo, s.sum.LeadCascadedTier)
	s.channelSummary()
	s.printf("   registered partner refused by rule %s\n", s.sum.RefusedRule)
	s.printf("   verify: OK (%d events, mirror %d)\n", s.sum.LogEvents, s.sum.MirrorChecked)
	s.printf("   replay as of position %d: same numbers\n", s.sum.ReplayPosition)
	s.next()
}

// next prints commands to try after the demo, with this run's values.
func (s *story) next() {
	cli := s.opt.Command
	s.sum.Next = []string{
		fmt.Sprintf("%s explain --oem hp --invoice %s --line 1", cli, s.hpInvoice),
		fmt.Sprintf("%s export attribution --quarter %s --format csv", cli, s.quarter),
		fmt.Sprintf(`curl -s -H "Authorization: Bearer $(%s token finance)" '%s/v1/partners/%s/statements/%s'`, cli, s.opt.BaseURL, s.platinum, s.quarter),
		fmt.Sprintf("%s replay --as-of now --out /tmp/dealcredit-replay", cli),
	}
	why := []string{
		"the credits of the HP invoice's first line and the events behind them",
		"finance's ledger of the story's quarter",
		"the platinum VAR's statement (JSON)",
		"the CSVs again, from the log alone, as recorded up to now",
	}
	s.printf("\nNext, with this run's values (copy and paste):\n")
	for i, c := range s.sum.Next {
		s.printf("   %s\n       # %s\n", c, why[i])
	}
}
