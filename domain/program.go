package domain

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"
)

// Envelope is an event as read from the log (domain cannot import eventstore; the
// projection converts).
type Envelope struct {
	Position      int64
	EventID       string
	StreamID      string
	StreamVersion int64 // 1 for the first event of its stream; 0 when unknown
	Type          string
	OccurredAt    time.Time
	RecordedAt    time.Time
	Event         Event
}

// CreditKind says what a ledger line credits.
type CreditKind string

// Credit kinds. Every invoice line books exactly one of revenue, service, oem, direct or
// unattributed for its full amount (so revenue mix adds up); rebate and field_rep lines come
// on top of a revenue line.
const (
	CreditRevenue      CreditKind = "revenue"      // partner revenue credit for a software line
	CreditRebate       CreditKind = "rebate"       // the partner's rebate at its tier rate
	CreditService      CreditKind = "service"      // a services line whose service side the OEM handed to a partner
	CreditFieldRep     CreditKind = "field_rep"    // a field rep's channel credit (quota credit, not paid revenue)
	CreditDirect       CreditKind = "direct"       // maintenance and support: direct revenue, never attributed
	CreditOEM          CreditKind = "oem"          // a services line the OEM kept
	CreditUnattributed CreditKind = "unattributed" // a software line no registration matched (an Exception is open)
)

// Credit is one attribution ledger line. Amount is negative for reversals and clawbacks.
type Credit struct {
	OEMID          string     `json:"oem_id"`
	InvoiceNumber  string     `json:"invoice_number"`
	Revision       int        `json:"revision"`
	Line           int        `json:"line"`
	Kind           CreditKind `json:"kind"`
	PartnerID      string     `json:"partner_id,omitempty"`
	RegistrationID string     `json:"registration_id,omitempty"`
	Customer       string     `json:"customer"`
	Segment        Segment    `json:"segment"`
	Quarter        Quarter    `json:"quarter"`
	Adjustment     bool       `json:"adjustment,omitempty"`
	AdjustsQuarter Quarter    `json:"adjusts_quarter,omitempty"`
	Amount         Money      `json:"amount"`
	PolicyVersion  int        `json:"policy_version"`
	Reason         string     `json:"reason"`
	EventIDs       []string   `json:"event_ids"`
	// Base, RateBPS, Returned and ReturnedBefore say how Amount was computed (Arithmetic
	// prints it): Base is the invoice line's amount and RateBPS the rate applied to it
	// (10000 for a credit of the whole line); a clawback also carries the line's amount
	// returned by credit memos after and before its memo.
	Base           int64 `json:"base_minor,omitempty"`
	RateBPS        int64 `json:"rate_bps,omitempty"`
	Returned       int64 `json:"returned_minor,omitempty"`
	ReturnedBefore int64 `json:"returned_before_minor,omitempty"`
}

// Exception is a software line no registration matched, with what was tried. A later
// claim (approval inside the grace window) resolves it: Status "claimed".
type Exception struct {
	OEMID         string   `json:"oem_id"`
	InvoiceNumber string   `json:"invoice_number"`
	Revision      int      `json:"revision"`
	Line          int      `json:"line"`
	Customer      string   `json:"customer"`
	Segment       Segment  `json:"segment"`
	InvoiceDate   Date     `json:"invoice_date"`
	Amount        Money    `json:"amount"`
	Status        string   `json:"status"`
	Tried         []string `json:"tried"`
	ClaimedBy     string   `json:"claimed_by,omitempty"`
	EventIDs      []string `json:"event_ids"`
	// CustomerKey is the invoice's customer key (docs/rules.md rule 10); PartnerID the
	// partner the line went to (matched, claimed or assigned); Reason and DecidedBy the
	// manual decision's (assigned, dismissed); CreditMemo marks a credit memo's line.
	CustomerKey string `json:"customer_key,omitempty"`
	PartnerID   string `json:"partner_id,omitempty"`
	Reason      string `json:"reason,omitempty"`
	DecidedBy   string `json:"decided_by,omitempty"`
	CreditMemo  bool   `json:"credit_memo,omitempty"`
}

// Outcome is what one envelope produced for the read models.
type Outcome struct {
	Credits    []Credit
	Exceptions []Exception
	// Approved is set by a statement approval (its figures freeze from here on), Payout
	// by a payout.
	Approved *StatementApproved
	Payout   *PayoutRecorded
	// Overflowed is the currency whose totals this event overflowed (totals.go): from
	// it on, no total of the currency is kept, and the read models drop theirs.
	Overflowed string
}

type dealRec struct {
	DealState
	regID, approvalID string
	approvalSeq       int64 // the approval's place in the log (Program.seq): the tie rule
	endedOn           Date
	displacedBy       string
	engagementIDs     []string
	handoffIDs        map[string]string // oem -> event id
}

type tierRec struct {
	span TierSpan
	id   string
}

type partnerRec struct {
	PartnerState
	tierIDs []tierRec
	// unmet caches TierUnmet per tier under the policy version unmetPolicy; a partner
	// event clears it.
	unmet       map[Tier][]Unmet
	unmetPolicy int
}

// tierAt returns the tier the partner held on d and the event that gave it. Before its
// first span a partner was registered, except a grandfathered one enrolled without its
// history: an existing business partner already held the tier it was grandfathered at
// (rule 5). A partner enrolled with its history has its past tiers as spans.
func (p *partnerRec) tierAt(d Date) (Tier, string) {
	t, id := TierRegistered, ""
	if p.Grandfathered && !p.HistoryKnown() && len(p.tierIDs) > 0 {
		t, id = p.tierIDs[0].span.Tier, p.tierIDs[0].id
	}
	for _, r := range p.tierIDs {
		if !r.span.From.After(d) {
			t, id = r.span.Tier, r.id
		}
	}
	return t, id
}

type policyRec struct {
	Policy
	id string
}

// Program is the whole partner program's state folded from the log in order: partners,
// tiers, seats, policy versions, registrations, engagements, handoffs, quarters, field reps
// and the invoice lines needed for revisions and credit-memo clawback. It is deterministic.
// Per invoice line it keeps the amount, the returned amounts and a compact record of how
// the line was attributed, from which its credits are rebuilt when a revision, a credit
// memo or a claim needs them.
//
// A program from NewProgram keeps everything in memory (tests, the demo's audit). One from
// NewSpillingProgram keeps its deals, invoices and open exceptions in a store between
// batches (spill.go): then Deal, DealIDs and OpenExceptions see only the records of the
// batch being folded.
type Program struct {
	partners    map[string]*partnerRec
	geos        map[string]GeoState
	policies    []policyRec
	deals       map[string]*dealRec
	byKey       map[string][]string
	byDomain    map[string][]string
	closed      map[Quarter]bool
	reps        map[string]FieldRepAssigned
	repIDs      map[string]string
	repOrder    []string // sorted keys of reps
	invoices    map[string]*invoiceRec
	exceptions  map[string]*excRec
	lineIdx     map[string][]string               // invoice index key (invoiceIndexKeys) -> invoice keys (may be stale)
	pending     map[string][]string               // invoice key -> keys of the credit memos waiting for it
	manual      map[string]map[int]ManualDecision // invoice key -> line -> manual decision in force (exception.go)
	approved    map[string]map[Quarter]bool       // partner -> quarters whose statement is approved (statement.go)
	outside     map[string]map[string]int         // partner -> quarter ("2026Q3") -> registrations flagged outside its commitment (rule 8a)
	credited    map[creditedKey]int64
	mix         map[mixKey]*Mix
	totalsGross map[string]int64  // currency -> its gross (totals.go); past MaxGross: the currency's totals overflowed
	strs        map[string]string // interned names, currencies, ids
	defPol      policyRec         // the default policy, read only
	position    int64
	seq         int64     // envelopes applied
	dirty       *dirtySet // what changed since the last Evict; nil when the program keeps everything in memory
}

type creditedKey struct {
	partner  string
	quarter  Quarter
	currency string
}

type mixKey struct {
	quarter  Quarter
	currency string
}

// NewProgram returns an empty program.
func NewProgram() *Program {
	return &Program{
		partners: map[string]*partnerRec{}, geos: map[string]GeoState{}, deals: map[string]*dealRec{},
		byKey: map[string][]string{}, byDomain: map[string][]string{}, closed: map[Quarter]bool{},
		reps: map[string]FieldRepAssigned{}, repIDs: map[string]string{}, invoices: map[string]*invoiceRec{},
		exceptions: map[string]*excRec{}, lineIdx: map[string][]string{}, pending: map[string][]string{}, credited: map[creditedKey]int64{},
		manual: map[string]map[int]ManualDecision{}, approved: map[string]map[Quarter]bool{}, outside: map[string]map[string]int{},
		mix: map[mixKey]*Mix{}, totalsGross: map[string]int64{}, strs: map[string]string{}, defPol: policyRec{Policy: DefaultPolicy()},
	}
}

// Position returns the position of the last applied envelope.
func (p *Program) Position() int64 { return p.position }

// Apply folds one envelope and returns the ledger entries and exceptions it produced. The
// error is only for an envelope that breaks the fold's invariants (out-of-order position,
// nil event); a projection stops on it.
func (p *Program) Apply(env Envelope) (Outcome, error) {
	if env.Event == nil {
		return Outcome{}, fmt.Errorf("domain: apply position %d: nil event", env.Position)
	}
	if env.Position != 0 && env.Position <= p.position {
		return Outcome{}, fmt.Errorf("domain: apply position %d after %d: the log must be folded in order", env.Position, p.position)
	}
	if env.Position != 0 {
		p.position = env.Position
	}
	p.seq++
	var out Outcome
	cause := env.Type + " on " + env.StreamID // what a re-attribution names (with the event id)
	switch e := env.Event.(type) {
	case PartnerEnrolled, PartnerGrandfathered, EngineerCertified, CertificationSubmitted, CertificationConfirmed, CertificationRefused,
		CommitmentMade, TierChanged, TierReviewed:
		id := partnerIDOf(e)
		r := p.partners[id]
		if r == nil {
			r = &partnerRec{}
			p.partners[id] = r
		}
		r.PartnerState = EvolvePartner(r.PartnerState, e)
		r.unmet = nil
		switch e := e.(type) {
		case PartnerEnrolled, PartnerGrandfathered:
			r.tierIDs = r.tierIDs[:0:0]
			for _, sp := range r.TierHistory {
				r.tierIDs = append(r.tierIDs, tierRec{sp, env.EventID})
			}
		case TierChanged:
			r.tierIDs = append(r.tierIDs, tierRec{TierSpan{e.To, e.EffectiveOn}, env.EventID})
		}
		switch e := e.(type) {
		case PartnerEnrolled, PartnerGrandfathered:
			out.add(p.reattribute([]string{"p:" + id}, Date{}, cause, env.EventID))
		case TierChanged:
			out.add(p.reattribute([]string{"p:" + id}, e.EffectiveOn, cause, env.EventID))
		}
	case SeatsSet, SeatTaken, SeatReleased, SeatWaitlisted, SeatOfferLapsed:
		geo := StreamOf(e)[len("geo-"):]
		p.geos[geo] = EvolveGeo(p.geos[geo], e)
	case PolicySet:
		p.policies = append(p.policies, policyRec{e, env.EventID})
		out.add(p.reattribute([]string{"*"}, e.EffectiveFrom, cause, env.EventID))
	case QuarterClosed:
		p.closed[e.Quarter] = true
	case StatementApproved:
		if p.approved[e.PartnerID] == nil {
			p.approved[e.PartnerID] = map[Quarter]bool{}
		}
		p.approved[e.PartnerID][e.Quarter] = true
		out.Approved = &e
	case PayoutRecorded:
		out.Payout = &e
		out.Overflowed = p.addGross(e.Amount.Currency, e.Amount.Amount)
	case FieldRepAssigned:
		from := e.On
		if old, ok := p.reps[e.RepID]; ok && old.On.Before(from) {
			from = old.On
		}
		p.reps[e.RepID], p.repIDs[e.RepID] = e, env.EventID
		p.repOrder = sortedKeys(p.reps)
		out.add(p.reattribute([]string{"*"}, from, cause, env.EventID))
	case DealRegistered:
		d := &dealRec{regID: env.EventID}
		d.DealState = EvolveDeal(DealState{}, e)
		p.deals[e.DealID] = d
		p.dirty.deal(e.DealID)
		p.byKey[e.CustomerKey] = append(p.byKey[e.CustomerKey], e.DealID)
		if dom := NormalizeDomain(e.Customer.Domain); dom != "" {
			p.byDomain[dom] = append(p.byDomain[dom], e.DealID)
		}
		if len(e.OutsideCommitment) > 0 {
			if p.outside[e.PartnerID] == nil {
				p.outside[e.PartnerID] = map[string]int{}
			}
			p.outside[e.PartnerID][e.RegisteredOn.Quarter().String()]++
		}
	case DealApproved, DealOverridden, DealRejected, DealReturned, DealWithdrawn, DealExtended, DealExpired,
		DealWon, DealLost, DealResubmitted, DealConflicted, EngagementLogged, ServiceHandedOff:
		id := StreamOf(e)[len("deal-"):]
		d := p.deals[id]
		if d == nil {
			return out, fmt.Errorf("domain: apply %s at position %d: deal %s was never registered", env.Type, env.Position, id)
		}
		d.DealState = EvolveDeal(d.DealState, e)
		p.dirty.deal(id)
		keys := dealIndexKeys(d.DealRegistered)
		switch e := e.(type) {
		case DealApproved:
			d.approvalID, d.approvalSeq, d.endedOn = env.EventID, p.seq, Date{}
		case DealOverridden:
			d.approvalID, d.approvalSeq, d.endedOn = env.EventID, p.seq, Date{}
			for _, x := range e.Displaced {
				if o := p.deals[x]; o != nil && o.end(e.ApprovedOn) {
					o.displacedBy = e.DealID
					p.dirty.deal(x)
					keys = append(keys, dealIndexKeys(o.DealRegistered)...)
				}
			}
		case DealWithdrawn:
			d.end(e.On)
		case DealLost:
			d.end(e.On)
		case DealExpired:
			d.end(e.On)
		case EngagementLogged:
			d.engagementIDs = append(d.engagementIDs, env.EventID)
		case ServiceHandedOff:
			if d.handoffIDs == nil {
				d.handoffIDs = map[string]string{}
			}
			d.handoffIDs[e.OEMID] = env.EventID
		}
		switch e.(type) {
		case DealApproved, DealOverridden, DealWithdrawn, DealLost, DealExpired, DealExtended, EngagementLogged, ServiceHandedOff:
			out.add(p.reattribute(keys, p.dealFrom(e, p.maxGrace()), cause, env.EventID))
		}
	case ExceptionAssigned:
		out.add(p.decideByHand(e.OEMID, e.InvoiceNumber, e.Line,
			&ManualDecision{Decision: ManualAssigned, DealID: e.DealID, EventID: env.EventID, Reason: e.Reason, By: e.By}, cause, env.EventID))
	case ExceptionDismissed:
		out.add(p.decideByHand(e.OEMID, e.InvoiceNumber, e.Line,
			&ManualDecision{Decision: ManualDismissed, EventID: env.EventID, Reason: e.Reason, By: e.By}, cause, env.EventID))
	case ExceptionReopened:
		out.add(p.decideByHand(e.OEMID, e.InvoiceNumber, e.Line, nil, cause, env.EventID))
	case InvoiceReceived:
		out.Overflowed = p.addGross(e.Currency, invoiceGross(e))
		o, err := p.applyInvoice(e, env.EventID)
		if err != nil {
			return out, fmt.Errorf("domain: apply %s at position %d: %w", env.Type, env.Position, err)
		}
		out.add(o)
	}
	for i := range out.Credits {
		out.Credits[i].EventIDs = filterEmpty(out.Credits[i].EventIDs)
		if err := p.count(out.Credits[i]); err != nil {
			return out, fmt.Errorf("domain: apply %s at position %d: %w", env.Type, env.Position, err)
		}
	}
	return out, nil
}

// end ends the deal's protection on day unless it ended earlier; it reports whether it
// changed anything.
func (d *dealRec) end(day Date) bool {
	if !d.endedOn.IsZero() && !day.Before(d.endedOn) {
		return false
	}
	d.endedOn = day
	return true
}

// add appends x's credits and exceptions to o's. When o has none yet it takes
// x's slices (capped: an append to o copies them), as most outcomes are one
// part's, which saves copying every credit of an event once more.
func (o *Outcome) add(x Outcome) {
	if len(o.Credits) == 0 && len(x.Credits) > 0 {
		o.Credits = x.Credits[:len(x.Credits):len(x.Credits)]
	} else {
		o.Credits = append(o.Credits, x.Credits...)
	}
	if len(o.Exceptions) == 0 && len(x.Exceptions) > 0 {
		o.Exceptions = x.Exceptions[:len(x.Exceptions):len(x.Exceptions)]
	} else {
		o.Exceptions = append(o.Exceptions, x.Exceptions...)
	}
}

func partnerIDOf(e Event) string { return StreamOf(e)[len("partner-"):] }

func (p *Program) policyAt(d Date) policyRec {
	best := policyRec{Policy: DefaultPolicy()}
	for _, r := range p.policies {
		if !r.EffectiveFrom.After(d) && r.Version >= best.Version {
			best = r
		}
	}
	return best
}

// book returns the quarter credit c, whose business quarter is q, lands in: q itself, or
// the first quarter after it that is open (and, for a partner's statement credit, whose
// statement of the partner is not approved) when q is not (then c adjusts q).
func (p *Program) book(c *Credit, q Quarter) (Quarter, bool) {
	var frozen map[Quarter]bool
	switch c.Kind {
	case CreditRevenue, CreditRebate, CreditService:
		frozen = p.approved[c.PartnerID]
	}
	b := q
	for p.closed[b] || frozen[b] {
		b = b.Next()
	}
	return b, b != q
}

func (p *Program) stamp(c Credit, natural Quarter) Credit {
	b, adj := p.book(&c, natural)
	c.Quarter, c.Adjustment = b, adj
	if adj {
		c.AdjustsQuarter = natural
	}
	return c
}

// policyIndex returns the index in p.policies of the policy in force on d, or -1 for the
// default policy (same choice as policyAt).
func (p *Program) policyIndex(d Date) int32 {
	best, v := int32(-1), p.defPol.Version
	for i := range p.policies {
		r := &p.policies[i]
		if !r.EffectiveFrom.After(d) && r.Version >= v {
			best, v = int32(i), r.Version
		}
	}
	return best
}

// policyOf returns the policy at index i of p.policies (-1: the default policy).
func (p *Program) policyOf(i int32) policyRec {
	if i < 0 {
		return p.defPol
	}
	return p.policies[i]
}

// intern returns a canonical copy of s, so that the strings kept per invoice line share
// their bytes.
func (p *Program) intern(s string) string {
	if v, ok := p.strs[s]; ok {
		return v
	}
	p.strs[s] = s
	return s
}

func invKey(oem, number string) string { return oem + "\x00" + number }

func excKey(oem, number string, line int) string {
	return oem + "\x00" + number + "\x00" + strconv.Itoa(line)
}

// outcome says how an invoice line was attributed.
type outcome uint8

const (
	outDirect outcome = iota
	outOEM
	outUnattributed
	outService
	outPartner
	outDismissed // a software line dismissed as direct by hand
)

// matchBy says which key matched a line to a deal (the "matched by" of the reasons).
type matchBy uint8

const (
	byRegistration matchBy = iota
	byDomain
	byKey
)

func (m matchBy) text(d *dealRec) string {
	switch m {
	case byRegistration:
		return "deal_registration_id " + d.DealID
	case byDomain:
		return "customer domain " + NormalizeDomain(d.Customer.Domain)
	default:
		return "customer name and country " + d.CustomerKey
	}
}

// lineAttr is the compact record of how a line was attributed, enough to rebuild its gross
// credits exactly (reasons and event ids included) without keeping them.
type lineAttr struct {
	kind outcome
	pol  int32 // index in Program.policies, -1 = default
	p    *partnerAttr
	m    *ManualDecision // the manual decision the line follows (assigned or dismissed), nil when none
}

// partnerAttr is what a partner or service credit of a line depends on, as it stood when
// the line was attributed (or claimed).
type partnerAttr struct {
	dealID     string
	partnerID  string // the deal's partner
	regID      string // the deal's registration event
	approvalID string
	matched    string // how the line matched the deal ("matched by" of the reasons)
	claimed    bool
	grace      int32    // claim grace days, for a claimed line
	engIDs     []string // the deal's engagement events at that time
	tier       Tier
	tierID     string
	bps        int64
	reps       []repSnap // field reps credited, in rep id order
	// service lines
	to, handoffID string
}

type repSnap struct {
	rep FieldRepAssigned
	id  string
}

// memoReturn is what one credit memo returned on a line, with what its clawback is booked
// with.
type memoReturn struct {
	number   string
	amount   int64
	segment  Segment // the memo line's segment: it returns nothing on a line of another segment
	date     Date
	eventID  string
	revision int
	currency string // the memo's currency: it returns nothing while its invoice is in another one
}

type lineRec struct {
	line    int
	segment Segment
	amount  int64
	memos   *[]memoReturn // credit memo number -> amount returned on this line
	attr    lineAttr
}

// memo returns what credit memo number returned on the line, nil when none.
func (l *lineRec) memo(number string) *memoReturn {
	if l.memos == nil {
		return nil
	}
	for i := range *l.memos {
		if (*l.memos)[i].number == number {
			return &(*l.memos)[i]
		}
	}
	return nil
}

func (l *lineRec) setMemo(r memoReturn) {
	if l.memos == nil {
		l.memos = &[]memoReturn{}
	}
	for i, m := range *l.memos {
		if m.number == r.number {
			(*l.memos)[i] = r
			return
		}
	}
	*l.memos = append(*l.memos, r)
}

// dropMemo forgets what credit memo number returned on the line.
func (l *lineRec) dropMemo(number string) {
	if l.memos == nil {
		return
	}
	*l.memos = slices.DeleteFunc(*l.memos, func(m memoReturn) bool { return m.number == number })
	if len(*l.memos) == 0 {
		l.memos = nil
	}
}

// invoiceRec is what the program keeps of an invoice or credit memo (the latest revision).
type invoiceRec struct {
	revision int
	eventID  string
	oemID    string
	number   string
	date     Date
	currency string
	customer string // the customer's name
	custKey  string // the customer key a line is matched by
	domain   string // the normalised web domain
	regID    string // the invoice's deal_registration_id
	memoFor  string // a credit memo's invoice number ("" for an invoice)
	// lines are sorted by line number; a credit memo keeps its lines only while it waits
	// for its invoice.
	lines []lineRec
	// parked are lines a revision dropped that credit memos had returned on: only their
	// line number and memos, sorted by line number, kept for a revision that brings the
	// line back (an invoice's only).
	parked []lineRec
}

// parkedLine returns the parked memos of line n, nil when none.
func (r *invoiceRec) parkedLine(n int) *lineRec {
	for i := range r.parked {
		if r.parked[i].line == n {
			return &r.parked[i]
		}
	}
	return nil
}

func (r *invoiceRec) line(n int) *lineRec {
	i := sort.Search(len(r.lines), func(i int) bool { return r.lines[i].line >= n })
	if i < len(r.lines) && r.lines[i].line == n {
		return &r.lines[i]
	}
	return nil
}

// excRec is an open exception of an invoice line.
type excRec struct {
	Exception
}

func (p *Program) newRec(inv InvoiceReceived, eventID string) *invoiceRec {
	key := invKey(inv.OEMID, inv.InvoiceNumber)
	return &invoiceRec{revision: inv.Revision, eventID: eventID, oemID: p.intern(inv.OEMID), number: key[len(inv.OEMID)+1:],
		date: inv.InvoiceDate, currency: p.intern(inv.Currency), customer: p.intern(inv.Customer.Name),
		custKey: p.intern(CustomerKey(inv.Customer)), domain: p.intern(NormalizeDomain(inv.Customer.Domain)), regID: inv.DealRegistrationID}
}

func internSegment(s Segment) Segment {
	for _, k := range allSegments {
		if s == k {
			return k
		}
	}
	return s
}

var allSegments = []Segment{SegmentClientManagement, SegmentServerManagement, SegmentAssetManagement,
	SegmentMaintenance, SegmentSupport, SegmentServices}

func (p *Program) applyInvoice(inv InvoiceReceived, eventID string) (Outcome, error) {
	if inv.Kind == KindCreditMemo {
		return p.applyCreditMemo(inv, eventID)
	}
	var out Outcome
	key := invKey(inv.OEMID, inv.InvoiceNumber)
	prev := p.invoices[key]
	if prev != nil && inv.Revision <= prev.revision {
		return out, nil // an older or equal revision arriving late changes nothing
	}
	rec := p.newRec(inv, eventID)
	rec.lines = make([]lineRec, len(inv.Lines))
	for i, l := range inv.Lines {
		rec.lines[i] = lineRec{line: l.Line, segment: internSegment(l.Segment), amount: l.AmountMinor}
	}
	sort.SliceStable(rec.lines, func(i, j int) bool { return rec.lines[i].line < rec.lines[j].line })
	cause := ""
	if prev != nil {
		cause = fmt.Sprintf("revision %d supersedes revision %d", inv.Revision, prev.revision)
		// Lines the new revision drops: their net credits are reversed.
		for i := range prev.lines {
			old := &prev.lines[i]
			if rec.line(old.line) != nil {
				continue
			}
			out.Credits = p.rebook(out.Credits, p.lineCredits(prev, old), nil, cause, eventID, false, inv.Revision)
			out.Exceptions = append(out.Exceptions, p.syncException(rec, old, nil, "superseded")...)
			out.Exceptions = append(out.Exceptions, park(rec, old)...)
		}
		for _, pk := range prev.parked {
			if rec.line(pk.line) == nil {
				rec.parked = append(rec.parked, pk)
			}
		}
		slices.SortFunc(rec.parked, func(a, b lineRec) int { return a.line - b.line })
	}
	p.invoices[key] = rec
	for i := range rec.lines {
		lr := &rec.lines[i]
		var before []booked
		if prev != nil {
			if pl := prev.line(lr.line); pl != nil {
				lr.memos = pl.memos
				before = p.lineCredits(prev, pl)
				out.Exceptions = append(out.Exceptions, memoCurrencyChanged(prev, rec, lr)...)
			} else if pk := prev.parkedLine(lr.line); pk != nil {
				lr.memos = pk.memos
				out.Exceptions = append(out.Exceptions, unparked(rec, lr)...)
			}
		}
		attr, tried := p.decide(rec, lr)
		lr.attr = attr
		out.Credits = p.rebook(out.Credits, before, p.lineCredits(rec, lr), cause, eventID, false, inv.Revision)
		out.Exceptions = append(out.Exceptions, p.syncException(rec, lr, tried, "superseded")...)
	}
	p.indexInvoice(key, rec)
	p.dirty.invoice(key)
	// Credit memos that arrived before the invoice waited for it.
	if memos := p.pending[key]; len(memos) > 0 {
		delete(p.pending, key)
		for _, mk := range memos {
			if m := p.invoices[mk]; m != nil {
				out.add(p.applyMemoTo(key, rec, mk, m, true))
			}
		}
	}
	return out, nil
}

// park keeps the credit memo returns of line l, which revision rec drops, on rec for a
// revision that brings the line back: their clawbacks were reversed with the line's
// credits, and are booked again with the line, as a memo on a line the invoice does not
// have waits for the revision that brings it. So the credits do not depend on whether a
// memo arrived before the line was dropped or after it came back. Each memo's line
// waits (exception status "waiting").
func park(rec *invoiceRec, l *lineRec) []Exception {
	if l.memos == nil {
		return nil
	}
	rec.parked = append(rec.parked, lineRec{line: l.line, memos: l.memos})
	var out []Exception
	for _, m := range *l.memos {
		out = append(out, memoException(rec, l.line, m, "waiting",
			fmt.Sprintf("line %d of %s, which has no line %d yet; applied when a revision brings it", l.line, rec.number, l.line)))
	}
	return out
}

// unparked returns the exceptions of the credit memos parked on line l that revision rec
// brings back: applied, or waiting for a revision in the memo's currency, or open when
// the line came back with another segment (as when the memo arrives now).
func unparked(rec *invoiceRec, l *lineRec) []Exception {
	var out []Exception
	for _, m := range *l.memos {
		switch {
		case m.currency != rec.currency:
			out = append(out, memoException(rec, l.line, m, "waiting", currencyWait(m.number, m.currency, rec.number, rec.currency)))
		case m.segment != l.segment:
			out = append(out, memoException(rec, l.line, m, "open", fmt.Sprintf("line %d of %s with segment %s", l.line, rec.number, m.segment)))
		default:
			out = append(out, memoException(rec, l.line, m, "applied",
				fmt.Sprintf("credit memo for %s, applied when revision %d brought line %d back", rec.number, rec.revision, l.line)))
		}
	}
	return out
}

// memoException is the exception of credit memo m's line on invoice rec.
func memoException(rec *invoiceRec, line int, m memoReturn, status, tried string) Exception {
	return Exception{OEMID: rec.oemID, InvoiceNumber: m.number, Revision: m.revision, Line: line, Customer: rec.customer,
		Segment: m.segment, InvoiceDate: m.date, Amount: Money{-m.amount, m.currency}, Status: status,
		EventIDs: []string{m.eventID}, CreditMemo: true, Tried: []string{tried}}
}

// booked is one credit a line books as things stand, with the component it belongs to
// ("" for the line's gross credits, the credit memo's number for its clawback). Its
// Quarter is the business quarter (before stamp).
type booked struct {
	memo string
	c    Credit
}

func (b *booked) same(o *booked) bool {
	return b.memo == o.memo && b.c.Kind == o.c.Kind && b.c.PartnerID == o.c.PartnerID && b.c.RegistrationID == o.c.RegistrationID &&
		b.c.Amount == o.c.Amount && b.c.Quarter == o.c.Quarter && b.c.PolicyVersion == o.c.PolicyVersion && b.c.Revision == o.c.Revision
}

// lineCredits returns every credit a line books as things stand: its gross credits in
// the quarter of the invoice date and, per credit memo in business order (memo date, then
// number), the difference of the cumulative proportional clawbacks in the quarter of the
// memo date. It is a function of the line's record only, so the same facts give the same
// credits whatever order the memos arrived in.
func (p *Program) lineCredits(rec *invoiceRec, l *lineRec) []booked {
	out := p.gross(nil, rec, l)
	gross := len(out) // out[:gross] are the gross credits, before the quarter is set
	for i := range out {
		out[i].c.Quarter = rec.date.Quarter()
	}
	if l.memos == nil {
		return out
	}
	ms := make([]memoReturn, 0, len(*l.memos))
	for _, m := range *l.memos {
		// A memo in another currency than the invoice's current revision waits (its
		// clawback ratio is never taken across two currencies).
		if (m.segment == "" || m.segment == l.segment) && m.currency == rec.currency {
			ms = append(ms, m)
		}
	}
	sort.SliceStable(ms, func(i, j int) bool {
		if ms[i].date != ms[j].date {
			return ms[i].date.Before(ms[j].date)
		}
		return ms[i].number < ms[j].number
	})
	var cum int64 // returned so far, capped at the line amount at each step (no overflow)
	for _, m := range ms {
		before := cum
		cum = min(cum+m.amount, l.amount)
		after := cum
		for k := 0; k < gross; k++ {
			g := out[k].c
			d := clawback(g.Amount.Amount, after, l.amount) - clawback(g.Amount.Amount, before, l.amount)
			if d == 0 {
				continue
			}
			c := g
			c.Amount.Amount = -d
			c.Revision = m.revision
			c.Returned, c.ReturnedBefore = after, before
			c.Quarter = m.date.Quarter()
			c.Reason = "clawback: credit memo " + m.number + " returns " + strconv.FormatInt(after, 10) + " of " +
				strconv.FormatInt(l.amount, 10) + " (" + g.Reason + ")"
			c.EventIDs = append(append(make([]string, 0, len(g.EventIDs)+1), g.EventIDs...), m.eventID)
			out = append(out, booked{memo: m.number, c: c})
		}
	}
	return out
}

// rebook appends to out the ledger rows that take a line from the credits it booked
// (before) to the credits it books now (after), and returns it: every credit of before without an identical one in
// after is reversed ("reversal: <cause> (...)"), every credit of after without an
// identical one in before is booked. Rows land in their business quarter, or as an
// adjustment in the first open quarter after it when that quarter is closed. With note, a
// rebooked credit names the cause too; revision (when not 0) is the reversals' revision.
func (p *Program) rebook(out []Credit, before, after []booked, cause, causeID string, note bool, revision int) []Credit {
	used := make([]bool, len(after))
	for i := range before {
		b := &before[i]
		found := false
		for j := range after {
			if !used[j] && b.same(&after[j]) {
				used[j], found = true, true
				break
			}
		}
		if found {
			continue
		}
		c := b.c
		c.Amount.Amount = -c.Amount.Amount
		if revision != 0 {
			c.Revision = revision
		}
		c.Reason = "reversal: " + cause + " (" + c.Reason + ")"
		c.EventIDs = append(append(make([]string, 0, len(c.EventIDs)+1), c.EventIDs...), causeID)
		out = append(out, p.stamp(c, c.Quarter))
	}
	for j := range after {
		if used[j] {
			continue
		}
		c := after[j].c
		if note {
			c.Reason += "; rebooked: " + cause
			c.EventIDs = append(append(make([]string, 0, len(c.EventIDs)+1), c.EventIDs...), causeID)
		}
		out = append(out, p.stamp(c, c.Quarter))
	}
	return out
}

// syncException keeps a line's exception in step with its attribution: an unattributed
// line has an open exception (listing what was tried); when the line is attributed, an
// open exception is resolved ("claimed" or "matched" by the deal, else closedAs).
func (p *Program) syncException(rec *invoiceRec, l *lineRec, tried []string, closedAs string) []Exception {
	ek := excKey(rec.oemID, rec.number, l.line)
	if l.attr.kind == outUnattributed && rec.line(l.line) == l {
		pol := p.policyOf(l.attr.pol)
		e := Exception{OEMID: rec.oemID, InvoiceNumber: rec.number, Revision: rec.revision, Line: l.line,
			Customer: rec.customer, Segment: l.segment, InvoiceDate: rec.date, Amount: Money{l.amount, rec.currency},
			Status: "open", Tried: tried, EventIDs: filterEmpty([]string{rec.eventID, pol.id}), CustomerKey: rec.custKey}
		p.exceptions[ek] = &excRec{Exception: e}
		p.dirty.exception(ek)
		return []Exception{e}
	}
	old := p.exceptions[ek]
	if m := l.attr.m; m != nil && rec.line(l.line) == l {
		// A manual decision shows on the line's exception whatever its status was.
		e := Exception{OEMID: rec.oemID, InvoiceNumber: rec.number, Revision: rec.revision, Line: l.line,
			Customer: rec.customer, Segment: l.segment, InvoiceDate: rec.date, Amount: Money{l.amount, rec.currency},
			Status: m.Decision, Tried: []string{}, EventIDs: []string{rec.eventID, m.EventID}, CustomerKey: rec.custKey,
			Reason: m.Reason, DecidedBy: m.By}
		if old != nil {
			e.Tried = old.Tried
		}
		if a := l.attr.p; a != nil {
			e.ClaimedBy, e.PartnerID = a.dealID, a.partnerID
		}
		if old != nil {
			delete(p.exceptions, ek)
			p.dirty.exception(ek)
		}
		return []Exception{e}
	}
	if old == nil || old.Status != "open" {
		return nil
	}
	e := old.Exception
	e.Status = closedAs
	if a := l.attr.p; l.attr.kind == outPartner && a != nil && rec.line(l.line) == l {
		e.Status, e.ClaimedBy, e.PartnerID = "matched", a.dealID, a.partnerID
		if a.claimed {
			e.Status = "claimed"
		}
	}
	delete(p.exceptions, ek)
	p.dirty.exception(ek)
	return []Exception{e}
}

// clawback returns the cumulative clawback of credit c when returned of lineAmount has been
// credited back: c x returned / lineAmount, rounded half away from zero. It is monotone in
// returned and equals c exactly when everything is returned.
func clawback(c, returned, lineAmount int64) int64 {
	if lineAmount <= 0 || returned <= 0 {
		return 0
	}
	if returned >= lineAmount {
		return c
	}
	return MulDiv(c, returned, lineAmount)
}

func (p *Program) applyCreditMemo(m InvoiceReceived, eventID string) (Outcome, error) {
	var out Outcome
	mkey := invKey(m.OEMID, m.InvoiceNumber)
	prevMemo := p.invoices[mkey]
	if prevMemo != nil && m.Revision <= prevMemo.revision {
		return out, nil
	}
	memo := p.newRec(m, eventID)
	memo.memoFor = m.CreditMemoFor
	memo.lines = make([]lineRec, len(m.Lines))
	for i, l := range m.Lines {
		memo.lines[i] = lineRec{line: l.Line, segment: internSegment(l.Segment), amount: l.AmountMinor, attr: lineAttr{pol: -1}}
	}
	p.invoices[mkey] = memo
	p.dirty.invoice(mkey)
	okey := invKey(m.OEMID, m.CreditMemoFor)
	orig := p.invoices[okey]
	if prevMemo != nil {
		out.add(p.memoLinesDropped(okey, orig, prevMemo, memo))
	}
	if orig == nil || orig.memoFor != "" {
		// The memo waits for its invoice: applied when the invoice arrives.
		if !containsString(p.pending[okey], mkey) {
			p.pending[okey] = append(p.pending[okey], mkey)
		}
		for _, l := range m.Lines {
			out.Exceptions = append(out.Exceptions, Exception{OEMID: m.OEMID, InvoiceNumber: m.InvoiceNumber, Revision: m.Revision, Line: l.Line,
				Customer: m.Customer.Name, Segment: l.Segment, InvoiceDate: m.InvoiceDate, Amount: Money{-l.AmountMinor, m.Currency},
				Status: "waiting", EventIDs: []string{eventID}, CreditMemo: true,
				Tried: []string{"credit memo for " + m.CreditMemoFor + ", which has not arrived yet; applied when it arrives"}})
		}
		return out, nil
	}
	out.add(p.applyMemoTo(okey, orig, mkey, memo, false))
	return out, nil
}

// memoLinesDropped takes back what revision prev of a credit memo returned on the lines
// of its invoice (orig, nil when it has not arrived) that the memo's new revision memo
// does not have, and closes (status "superseded") the exceptions of prev's lines that
// waited: a memo is what its highest revision says, so the credits do not depend on
// whether an earlier revision arrived before it or after it.
func (p *Program) memoLinesDropped(okey string, orig, prev, memo *invoiceRec) Outcome {
	var out Outcome
	has := func(n int) bool { return slices.ContainsFunc(memo.lines, func(l lineRec) bool { return l.line == n }) }
	superseded := func(line int, segment Segment, amount int64) {
		out.Exceptions = append(out.Exceptions, Exception{OEMID: prev.oemID, InvoiceNumber: prev.number, Revision: memo.revision, Line: line,
			Customer: prev.customer, Segment: segment, InvoiceDate: prev.date, Amount: Money{-amount, prev.currency}, Status: "superseded",
			EventIDs: []string{memo.eventID}, CreditMemo: true,
			Tried: []string{fmt.Sprintf("credit memo %s revision %d has no line %d", memo.number, memo.revision, line)}})
	}
	for _, l := range prev.lines {
		if !has(l.line) {
			superseded(l.line, l.segment, l.amount)
		}
	}
	if orig == nil || orig.memoFor != "" {
		return out
	}
	for i := range orig.lines {
		lr := &orig.lines[i]
		r := lr.memo(memo.number)
		if r == nil || has(lr.line) {
			continue
		}
		before := p.lineCredits(orig, lr)
		superseded(lr.line, r.segment, r.amount)
		lr.dropMemo(memo.number)
		p.dirty.invoice(okey)
		out.Credits = p.rebook(out.Credits, before, p.lineCredits(orig, lr),
			fmt.Sprintf("credit memo %s revision %d has no line %d", memo.number, memo.revision, lr.line), memo.eventID, false, 0)
	}
	// Returns parked on lines the invoice dropped book nothing now: forgotten.
	for i := range orig.parked {
		pk := &orig.parked[i]
		if r := pk.memo(memo.number); r != nil && !has(pk.line) {
			superseded(pk.line, r.segment, r.amount)
			pk.dropMemo(memo.number)
			p.dirty.invoice(okey)
		}
	}
	orig.parked = slices.DeleteFunc(orig.parked, func(l lineRec) bool { return l.memos == nil })
	return out
}

// applyMemoTo applies a credit memo to the lines of its invoice: each line books the change
// of its clawbacks. A memo in another currency than the invoice's current revision is kept
// on the line but returns nothing: it waits (exception status "waiting") for a revision in
// its currency to become the highest.
func (p *Program) applyMemoTo(okey string, orig *invoiceRec, mkey string, memo *invoiceRec, waited bool) Outcome {
	var out Outcome
	exc := func(l *lineRec, status, tried string) Exception {
		return Exception{OEMID: memo.oemID, InvoiceNumber: memo.number, Revision: memo.revision, Line: l.line, Customer: memo.customer,
			Segment: l.segment, InvoiceDate: memo.date, Amount: Money{-l.amount, memo.currency}, Status: status,
			EventIDs: []string{memo.eventID}, Tried: []string{tried}, CreditMemo: true}
	}
	lines := memo.lines
	memo.lines = nil
	p.dirty.invoice(mkey)
	for i := range lines {
		l := &lines[i]
		lr := orig.line(l.line)
		if lr == nil {
			// The memo's line waits for a revision of the invoice that brings it, as a
			// memo waits for its invoice: applied then, so the credits do not depend on
			// whether the memo arrived before or after that revision.
			memo.lines = append(memo.lines, *l)
			if !containsString(p.pending[okey], mkey) {
				p.pending[okey] = append(p.pending[okey], mkey)
			}
			out.Exceptions = append(out.Exceptions, exc(l, "waiting", fmt.Sprintf("line %d of %s, which has no line %d yet; applied when a revision brings it",
				l.line, memo.memoFor, l.line)))
			continue
		}
		switch {
		case memo.currency != orig.currency:
			// Kept on the line: a revision in the memo's currency applies it.
			out.Exceptions = append(out.Exceptions, exc(l, "waiting", currencyWait(memo.number, memo.currency, memo.memoFor, orig.currency)))
		case lr.segment != l.segment:
			// Kept on the line: a revision that gives the line this segment applies it.
			out.Exceptions = append(out.Exceptions, exc(l, "open", fmt.Sprintf("line %d of %s with segment %s", l.line, memo.memoFor, l.segment)))
		}
		if was := lr.memo(memo.number); !waited && memo.currency == orig.currency && was != nil && was.currency != orig.currency {
			// An earlier revision of the memo waited in another currency: this one applies.
			out.Exceptions = append(out.Exceptions, exc(l, "applied", "credit memo "+memo.number+" revision "+strconv.Itoa(memo.revision)+
				" in "+memo.currency+", the currency of "+memo.memoFor))
		}
		before := p.lineCredits(orig, lr)
		lr.setMemo(memoReturn{number: memo.number, amount: l.amount, segment: l.segment, date: memo.date, eventID: memo.eventID,
			revision: memo.revision, currency: memo.currency})
		p.dirty.invoice(okey)
		out.Credits = p.rebook(out.Credits, before, p.lineCredits(orig, lr), "credit memo "+memo.number+" changes the clawbacks",
			memo.eventID, false, 0)
		if waited && memo.currency == orig.currency {
			out.Exceptions = append(out.Exceptions, exc(l, "applied", "credit memo for "+memo.memoFor+", applied when it arrived"))
		}
	}
	return out
}

// currencyWait says why a credit memo's line waits for a revision in its currency.
func currencyWait(memo, currency, invoice, invCurrency string) string {
	return fmt.Sprintf("currency %s of credit memo %s differs from invoice %s's %s; applied when a revision in %s is the highest",
		currency, memo, invoice, invCurrency, currency)
}

// memoCurrencyChanged returns the exceptions of the credit memos on line l when revision
// rec of an invoice replaces prev in another currency: a memo in rec's currency, which
// waited, is applied; any other waits for a revision in its currency.
func memoCurrencyChanged(prev, rec *invoiceRec, l *lineRec) []Exception {
	if prev.currency == rec.currency || l.memos == nil {
		return nil
	}
	var out []Exception
	for _, m := range *l.memos {
		e := Exception{OEMID: rec.oemID, InvoiceNumber: m.number, Revision: m.revision, Line: l.line, Customer: rec.customer,
			Segment: m.segment, InvoiceDate: m.date, Amount: Money{-m.amount, m.currency}, EventIDs: []string{m.eventID}, CreditMemo: true}
		if m.currency == rec.currency {
			e.Status, e.Tried = "applied", []string{"credit memo for " + rec.number + ", applied when revision " + strconv.Itoa(rec.revision) + " in " + rec.currency + " arrived"}
		} else {
			e.Status, e.Tried = "waiting", []string{currencyWait(m.number, m.currency, rec.number, rec.currency)}
		}
		out = append(out, e)
	}
	return out
}

func containsString(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// protects says whether deal d protects segment seg (any segment when !needSegment) on day.
func protects(d *dealRec, seg Segment, day Date, needSegment bool) bool {
	if d == nil || d.approvalID == "" || day.Before(d.ApprovedOn) || day.After(d.ExpiresOn) {
		return false
	}
	if !d.endedOn.IsZero() && !day.Before(d.endedOn) {
		return false
	}
	return !needSegment || hasSegment(d.Segments, seg)
}

// first says whether deal a takes a line before deal b: the earlier approval day, then
// the approval first in the log.
func first(a, b *dealRec) bool {
	if a.ApprovedOn != b.ApprovedOn {
		return a.ApprovedOn.Before(b.ApprovedOn)
	}
	return a.approvalSeq < b.approvalSeq
}

// match finds the deal protecting (customer, segment) on day. Order: the invoice's
// deal_registration_id, then the normalised web domain, then normalised name + country;
// among several, the earliest approval, then the approval first in the log. Without a
// match it returns every key tried; with one, why the runner-up lost (if any).
func (p *Program) match(rec *invoiceRec, seg Segment, day Date, needSegment bool) (*dealRec, matchBy, []string) {
	var tried []string
	if id := rec.regID; id != "" {
		if d := p.deals[id]; protects(d, seg, day, needSegment) {
			return d, byRegistration, nil
		}
		tried = append(tried, "deal_registration_id "+id+": no protected registration for "+string(seg)+" on "+day.String())
	}
	var lost []string // on a match: why the runner-up lost
	pick := func(ids []string) *dealRec {
		var best, second *dealRec
		for _, id := range ids {
			d := p.deals[id]
			if !protects(d, seg, day, needSegment) || d == best || d == second {
				continue
			}
			switch {
			case best == nil || first(d, best):
				best, second = d, best
			case second == nil || first(d, second):
				second = d
			}
		}
		if second != nil {
			// Say why the other deal lost (the first runner-up).
			why := "approved later (" + second.ApprovedOn.String() + ")"
			if second.ApprovedOn == best.ApprovedOn {
				why = "approved the same day, later in the log"
			}
			lost = []string{"deal " + second.DealID + " of " + second.PartnerID + " also protects it but was " + why}
		}
		return best
	}
	if dom := rec.domain; dom != "" {
		if d := pick(p.byDomain[dom]); d != nil {
			return d, byDomain, lost
		}
		tried = append(tried, "customer domain "+dom+": no protected registration for "+string(seg)+" on "+day.String())
	}
	if d := pick(p.byKey[rec.custKey]); d != nil {
		return d, byKey, lost
	}
	tried = append(tried, "customer name and country "+rec.custKey+": no protected registration for "+string(seg)+" on "+day.String())
	return nil, 0, tried
}

// claimant finds the deal that claims a software line no registration protected: approved
// after the invoice date but within the claim grace days of the policy in force on it, not
// ended by then, covering the segment, and its partner logged an engagement step on or
// before the invoice date (rule 13). Among several, the earliest approval, then the
// approval first in the log; the second result says why the runner-up lost.
func (p *Program) claimant(rec *invoiceRec, seg Segment, pol policyRec) (*dealRec, string) {
	var best, second *dealRec
	consider := func(d *dealRec) {
		if d == nil || d.approvalID == "" || !hasSegment(d.Segments, seg) || !d.ApprovedOn.After(rec.date) ||
			d.ApprovedOn.After(rec.date.AddDays(pol.ClaimGraceDaysFor(d.Geography))) ||
			(!d.endedOn.IsZero() && !d.endedOn.After(d.ApprovedOn)) {
			return
		}
		worked := false
		for _, e := range d.Engagements {
			if e.PartnerID == d.PartnerID && !e.OccurredOn.After(rec.date) {
				worked = true
				break
			}
		}
		switch {
		case !worked || d == best || d == second:
		case best == nil || first(d, best):
			best, second = d, best
		case second == nil || first(d, second):
			second = d
		}
	}
	if rec.regID != "" {
		consider(p.deals[rec.regID])
	}
	if rec.domain != "" {
		for _, id := range p.byDomain[rec.domain] {
			consider(p.deals[id])
		}
	}
	for _, id := range p.byKey[rec.custKey] {
		consider(p.deals[id])
	}
	if second == nil {
		return best, ""
	}
	why := "approved later (" + second.ApprovedOn.String() + ")"
	if second.ApprovedOn == best.ApprovedOn {
		why = "approved the same day, later in the log"
	}
	return best, "deal " + second.DealID + " of " + second.PartnerID + " could also claim it but was " + why
}

// decide attributes one invoice line from the facts known now as of the invoice date, and
// returns what was tried for an unmatched software line (which books an unattributed
// credit and opens an exception).
func (p *Program) decide(rec *invoiceRec, l *lineRec) (lineAttr, []string) {
	pi := p.policyIndex(rec.date)
	switch {
	case l.segment.Direct():
		return lineAttr{kind: outDirect, pol: pi}, nil
	case l.segment == SegmentServices:
		if d, how, _ := p.match(rec, l.segment, rec.date, false); d != nil {
			if hid, ok := d.handoffIDs[rec.oemID]; ok {
				to := ""
				for _, h := range d.Handoffs {
					if h.OEMID == rec.oemID {
						to = h.ToPartnerID
					}
				}
				a := &partnerAttr{dealID: d.DealID, partnerID: d.PartnerID, regID: d.regID, approvalID: d.approvalID,
					matched: how.text(d), to: to, handoffID: hid}
				return lineAttr{kind: outService, pol: pi, p: a}, nil
			}
		}
		return lineAttr{kind: outOEM, pol: pi}, nil
	}
	pol := p.policyOf(pi)
	if m := p.manual[invKey(rec.oemID, rec.number)][l.line]; m.Decision == ManualDismissed {
		return lineAttr{kind: outDismissed, pol: pi, m: &m}, nil
	} else if d := p.deals[m.DealID]; m.Decision == ManualAssigned && d != nil {
		return lineAttr{kind: outPartner, pol: pi, p: p.partnerAttr(rec.date, d, 0, pol), m: &m}, nil
	}
	d, how, tried := p.match(rec, l.segment, rec.date, true)
	if d != nil {
		a := p.partnerAttr(rec.date, d, how, pol)
		if len(tried) > 0 {
			a.matched += "; " + tried[0]
		}
		return lineAttr{kind: outPartner, pol: pi, p: a}, nil
	}
	if d, lost := p.claimant(rec, l.segment, pol); d != nil {
		a := p.partnerAttr(rec.date, d, 0, pol)
		a.claimed, a.grace, a.matched = true, int32(pol.ClaimGraceDaysFor(d.Geography)), lost
		return lineAttr{kind: outPartner, pol: pi, p: a}, nil
	}
	return lineAttr{kind: outUnattributed, pol: pi}, tried
}

// partnerAttr snapshots what the partner credits of a line matched to d depend on.
func (p *Program) partnerAttr(day Date, d *dealRec, how matchBy, pol policyRec) *partnerAttr {
	a := &partnerAttr{dealID: d.DealID, partnerID: d.PartnerID, regID: d.regID, approvalID: d.approvalID, matched: how.text(d),
		engIDs: d.engagementIDs[:len(d.engagementIDs):len(d.engagementIDs)], tier: TierRegistered}
	if pr := p.partners[d.PartnerID]; pr != nil {
		a.tier, a.tierID = pr.tierAt(day)
	}
	a.bps = pol.RebateFor(a.tier, d.Geography)
	a.reps = p.repsFor(d, day)
	return a
}

// repsFor returns the field reps credited on a line of deal d dated day (rule 17), in rep
// id order: the reps naming the deal's customer as an account, when any does; else the
// reps whose territory (geography, and size band when the deal has one) covers it.
func (p *Program) repsFor(d *dealRec, day Date) []repSnap {
	var byAccount, byTerritory []repSnap
	for _, id := range p.repOrder {
		r := p.reps[id]
		switch {
		case r.On.After(day):
		case slices.Contains(r.Accounts, d.CustomerKey):
			byAccount = append(byAccount, repSnap{r, p.repIDs[id]})
		case r.Geography == d.Geography && (d.SizeBand == "" || r.SizeBand == d.SizeBand):
			byTerritory = append(byTerritory, repSnap{r, p.repIDs[id]})
		}
	}
	if len(byAccount) > 0 {
		return byAccount
	}
	return byTerritory
}

// gross appends to dst the full credits of a line (before clawback), rebuilt from its
// attribution record, as the line's gross components (no memo), and returns it.
func (p *Program) gross(dst []booked, rec *invoiceRec, l *lineRec) []booked {
	a := l.attr
	pol := p.policyOf(a.pol)
	base := Credit{OEMID: rec.oemID, InvoiceNumber: rec.number, Revision: rec.revision, Line: l.line,
		Customer: rec.customer, Segment: l.segment, Amount: Money{l.amount, rec.currency}, PolicyVersion: pol.Version,
		Base: l.amount, RateBPS: BPSDenominator}
	ids := func(x ...string) []string {
		out := make([]string, 0, 1+len(x))
		out = append(out, rec.eventID)
		for _, s := range x {
			if s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	switch a.kind {
	case outDirect:
		c := base
		c.Kind, c.Reason, c.EventIDs = CreditDirect, string(l.segment)+" stays direct revenue", ids(pol.id)
		return append(dst, booked{c: c})
	case outOEM:
		c := base
		c.Kind, c.PartnerID, c.Reason, c.EventIDs = CreditOEM, rec.oemID, "services delivered by the OEM (no service handoff)", ids(pol.id)
		return append(dst, booked{c: c})
	case outUnattributed:
		c := base
		c.Kind, c.Reason, c.EventIDs = CreditUnattributed, "no registration matched; exception open", ids(pol.id)
		return append(dst, booked{c: c})
	case outDismissed:
		c := base
		c.Kind, c.Reason, c.EventIDs = CreditDirect, "dismissed as direct by "+a.m.By+": "+a.m.Reason, ids(a.m.EventID, pol.id)
		return append(dst, booked{c: c})
	case outService:
		s := a.p
		c := base
		c.Kind, c.PartnerID, c.RegistrationID = CreditService, s.to, s.dealID
		c.Reason = fmt.Sprintf("%s declined the service side of deal %s (matched by %s); %s takes it", rec.oemID, s.dealID, s.matched, s.to)
		c.EventIDs = ids(s.regID, s.approvalID, s.handoffID, pol.id)
		return append(dst, booked{c: c})
	}
	s := a.p
	how := s.matched
	if a.m != nil {
		how = "assigned by hand by " + a.m.By + ": " + a.m.Reason
	}
	if s.claimed {
		how = fmt.Sprintf("claim within %d grace days after engagement before the invoice date", s.grace)
		if s.matched != "" {
			how += "; " + s.matched // why another claimant lost
		}
	}
	evIDs := ids(s.regID, s.approvalID, pol.id)
	if a.m != nil {
		evIDs = ids(s.regID, s.approvalID, a.m.EventID, pol.id)
	}
	rev := base
	rev.Kind, rev.PartnerID, rev.RegistrationID = CreditRevenue, s.partnerID, s.dealID
	// Concatenation, not Sprintf: this runs for every attributed line of every rebuild.
	rev.Reason = "deal " + s.dealID + " of " + s.partnerID + " protects " + string(base.Segment) + " (matched by " + how +
		"); the OEM keeps the invoice, the partner keeps the credit"
	rev.EventIDs = append(append(make([]string, 0, len(evIDs)+len(s.engIDs)), evIDs...), s.engIDs...)
	reb := rev
	reb.Kind = CreditRebate
	reb.Amount.Amount, reb.RateBPS = ApplyBPS(base.Amount.Amount, s.bps), s.bps
	reb.Reason = string(s.tier) + " rebate " + strconv.FormatInt(s.bps, 10) + " bps as of " + rec.date.String()
	reb.EventIDs = append(append(make([]string, 0, len(evIDs)+1), evIDs...), s.tierID)
	n := len(dst)
	dst = append(dst, booked{c: rev}, booked{c: reb})
	for _, r := range s.reps {
		fr := rev
		fr.Kind, fr.PartnerID = CreditFieldRep, r.rep.RepID
		fr.Amount.Amount, fr.RateBPS = ApplyBPS(base.Amount.Amount, pol.FieldRepBPS), pol.FieldRepBPS
		fr.Reason = "field rep " + r.rep.RepID + " covers " + r.rep.Geography + "/" + r.rep.SizeBand + "; deal " + s.dealID +
			" went through partner " + s.partnerID
		fr.EventIDs = append(append(make([]string, 0, len(evIDs)+1), evIDs...), r.id)
		dst = append(dst, booked{c: fr})
	}
	if s.claimed {
		for i := n; i < len(dst); i++ {
			dst[i].c.Reason += "; claimed late"
		}
	}
	return dst
}

// reattribute attributes again the lines of the invoices indexed under keys (every invoice
// for the key "*") dated on or after from, after fact causeID ("cause") was folded: a line
// whose credits change books the reversal of the old ones and the new ones, both naming
// the cause. Invoices are visited in key order, so the rows are deterministic.
func (p *Program) reattribute(keys []string, from Date, cause, causeID string) Outcome {
	var out Outcome
	var invs []string
	for _, k := range keys {
		if k == "*" {
			invs = sortedKeys(p.invoices)
			break
		}
		invs = append(invs, p.lineIdx[k]...)
	}
	sort.Strings(invs)
	for i, ik := range invs {
		if i > 0 && ik == invs[i-1] {
			continue
		}
		rec := p.invoices[ik]
		if rec == nil || rec.memoFor != "" || rec.date.Before(from) {
			continue
		}
		changed := false
		for j := range rec.lines {
			lr := &rec.lines[j]
			before := p.lineCredits(rec, lr)
			was := lr.attr
			attr, tried := p.decide(rec, lr)
			lr.attr = attr
			n := len(out.Credits)
			if out.Credits = p.rebook(out.Credits, before, p.lineCredits(rec, lr), cause, causeID, true, 0); len(out.Credits) == n {
				lr.attr = was // nothing changed: the record keeps what the ledger shows
				continue
			}
			changed = true
			out.Exceptions = append(out.Exceptions, p.syncException(rec, lr, tried, "superseded")...)
		}
		if changed {
			p.indexInvoice(ik, rec)
			p.dirty.invoice(ik)
		}
	}
	return out
}

// invoiceIndexKeys returns the keys a re-attribution finds an invoice by: its customer
// key ("k:"), normalised web domain ("d:"), deal registration id ("r:") and the partners
// its lines are credited to ("p:"). A credit memo has none.
func invoiceIndexKeys(rec *invoiceRec) []string {
	if rec.memoFor != "" {
		return nil
	}
	keys := []string{"k:" + rec.custKey}
	if rec.domain != "" {
		keys = append(keys, "d:"+rec.domain)
	}
	if rec.regID != "" {
		keys = append(keys, "r:"+rec.regID)
	}
	for _, l := range rec.lines {
		if a := l.attr.p; l.attr.kind == outPartner && a != nil && !containsString(keys, "p:"+a.partnerID) {
			keys = append(keys, "p:"+a.partnerID)
		}
	}
	return keys
}

// dealIndexKeys returns the invoice index keys of the lines a deal can protect or claim.
func dealIndexKeys(d DealRegistered) []string {
	keys := []string{"k:" + d.CustomerKey, "r:" + d.DealID}
	if dom := NormalizeDomain(d.Customer.Domain); dom != "" {
		keys = append(keys, "d:"+dom)
	}
	return keys
}

// indexInvoice adds an invoice to the re-attribution index (entries may go stale: a
// re-attribution checks what it finds).
func (p *Program) indexInvoice(key string, rec *invoiceRec) {
	for _, k := range invoiceIndexKeys(rec) {
		if ks := p.lineIdx[k]; len(ks) == 0 || ks[len(ks)-1] != key {
			p.lineIdx[k] = append(ks, key)
		}
	}
}

// maxGrace returns the longest claim grace of any policy version and geography: how far
// back an approval can reach.
func (p *Program) maxGrace() int {
	g := maxGraceOf(p.defPol.Policy)
	for _, r := range p.policies {
		g = max(g, maxGraceOf(r.Policy))
	}
	return g
}

func maxGraceOf(pol Policy) int {
	g := pol.ClaimGraceDays
	for _, x := range pol.Geographies {
		g = max(g, x.ClaimGraceDays)
	}
	return g
}

// dealFrom returns the first invoice date a deal event can change the attribution of
// (the zero date: any).
func (p *Program) dealFrom(e Event, grace int) Date {
	switch e := e.(type) {
	case DealApproved:
		return e.ApprovedOn.AddDays(-grace)
	case DealOverridden:
		return e.ApprovedOn.AddDays(-grace)
	case DealWithdrawn:
		return e.On
	case DealLost:
		return e.On
	case DealExpired:
		return e.On
	case DealExtended:
		return e.On
	case EngagementLogged:
		return e.OccurredOn
	}
	return Date{}
}

func filterEmpty(ids []string) []string {
	out := ids[:0:0]
	for _, s := range ids {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// ManualDecision is a manual decision on an invoice line (exception.go): what the line's
// credits are rebuilt with while it is in force.
type ManualDecision struct {
	Decision string // ManualAssigned or ManualDismissed
	DealID   string
	EventID  string
	Reason   string
	By       string
}

// decideByHand records (m) or withdraws (nil) the manual decision on a line, then
// attributes the line again if its invoice is known (else the decision waits for it): the
// old credits are reversed and the new ones booked, naming the decision.
func (p *Program) decideByHand(oemID, number string, line int, m *ManualDecision, cause, causeID string) Outcome {
	key := invKey(oemID, number)
	if m != nil {
		if p.manual[key] == nil {
			p.manual[key] = map[int]ManualDecision{}
		}
		p.manual[key][line] = *m
	} else {
		delete(p.manual[key], line)
		if len(p.manual[key]) == 0 {
			delete(p.manual, key)
		}
	}
	var out Outcome
	rec := p.invoices[key]
	if rec == nil || rec.memoFor != "" {
		return out
	}
	lr := rec.line(line)
	if lr == nil {
		return out
	}
	before := p.lineCredits(rec, lr)
	attr, tried := p.decide(rec, lr)
	lr.attr = attr
	out.Credits = p.rebook(nil, before, p.lineCredits(rec, lr), cause, causeID, true, 0)
	out.Exceptions = p.syncException(rec, lr, tried, "superseded")
	if m == nil && attr.kind != outUnattributed {
		// Reopened onto a line a registration now takes: say so on the exception.
		out.Exceptions = append(out.Exceptions, p.reopenedException(rec, lr)...)
	}
	p.indexInvoice(key, rec)
	p.dirty.invoice(key)
	return out
}

// reopenedException is the exception of a reopened line that a registration now takes:
// matched (or claimed) by its deal.
func (p *Program) reopenedException(rec *invoiceRec, l *lineRec) []Exception {
	a := l.attr.p
	if l.attr.kind != outPartner || a == nil {
		return nil
	}
	e := Exception{OEMID: rec.oemID, InvoiceNumber: rec.number, Revision: rec.revision, Line: l.line,
		Customer: rec.customer, Segment: l.segment, InvoiceDate: rec.date, Amount: Money{l.amount, rec.currency},
		Status: "matched", Tried: []string{}, EventIDs: []string{rec.eventID}, CustomerKey: rec.custKey,
		ClaimedBy: a.dealID, PartnerID: a.partnerID}
	if a.claimed {
		e.Status = "claimed"
	}
	return []Exception{e}
}
