package domain

import (
	"fmt"
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
}

// Outcome is what one envelope produced for the read models.
type Outcome struct {
	Credits    []Credit
	Exceptions []Exception
}

type dealRec struct {
	DealState
	regID, approvalID string
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

func (p *partnerRec) tierAt(d Date) (Tier, string) {
	t, id := TierRegistered, ""
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
	partners   map[string]*partnerRec
	geos       map[string]GeoState
	policies   []policyRec
	deals      map[string]*dealRec
	byKey      map[string][]string
	byDomain   map[string][]string
	closed     map[Quarter]bool
	reps       map[string]FieldRepAssigned
	repIDs     map[string]string
	repOrder   []string // sorted keys of reps
	invoices   map[string]*invoiceRec
	exceptions map[string]*excRec
	excIndex   map[string][]string // customer key or "\x00"+domain -> exception keys (may be stale)
	credited   map[creditedKey]int64
	mix        map[mixKey]*Mix
	strs       map[string]string // interned names, currencies, ids
	defPol     policyRec         // the default policy, read only
	position   int64
	dirty      *dirtySet // what changed since the last Evict; nil when the program keeps everything in memory
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
		exceptions: map[string]*excRec{}, excIndex: map[string][]string{}, credited: map[creditedKey]int64{},
		mix: map[mixKey]*Mix{}, strs: map[string]string{}, defPol: policyRec{Policy: DefaultPolicy()},
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
	var out Outcome
	switch e := env.Event.(type) {
	case PartnerEnrolled, PartnerGrandfathered, EngineerCertified, CommitmentMade, TierChanged, TierReviewed:
		id := partnerIDOf(e)
		r := p.partners[id]
		if r == nil {
			r = &partnerRec{}
			p.partners[id] = r
		}
		r.PartnerState = EvolvePartner(r.PartnerState, e)
		r.unmet = nil
		switch e := e.(type) {
		case PartnerEnrolled:
			r.tierIDs = []tierRec{{TierSpan{e.Tier, e.EnrolledOn}, env.EventID}}
		case PartnerGrandfathered:
			r.tierIDs = []tierRec{{TierSpan{e.Tier, e.EnrolledOn}, env.EventID}}
		case TierChanged:
			r.tierIDs = append(r.tierIDs, tierRec{TierSpan{e.To, e.EffectiveOn}, env.EventID})
		}
	case SeatsSet, SeatTaken, SeatReleased, SeatWaitlisted:
		geo := StreamOf(e)[len("geo-"):]
		p.geos[geo] = EvolveGeo(p.geos[geo], e)
	case PolicySet:
		p.policies = append(p.policies, policyRec{e, env.EventID})
	case QuarterClosed:
		p.closed[e.Quarter] = true
	case FieldRepAssigned:
		p.reps[e.RepID], p.repIDs[e.RepID] = e, env.EventID
		p.repOrder = sortedKeys(p.reps)
	case DealRegistered:
		d := &dealRec{regID: env.EventID}
		d.DealState = EvolveDeal(DealState{}, e)
		p.deals[e.DealID] = d
		p.dirty.deal(e.DealID)
		p.byKey[e.CustomerKey] = append(p.byKey[e.CustomerKey], e.DealID)
		if dom := NormalizeDomain(e.Customer.Domain); dom != "" {
			p.byDomain[dom] = append(p.byDomain[dom], e.DealID)
		}
	case DealApproved, DealOverridden, DealRejected, DealReturned, DealWithdrawn, DealExtended, DealExpired,
		DealWon, DealLost, DealConflicted, EngagementLogged, ServiceHandedOff:
		id := StreamOf(e)[len("deal-"):]
		d := p.deals[id]
		if d == nil {
			return out, fmt.Errorf("domain: apply %s at position %d: deal %s was never registered", env.Type, env.Position, id)
		}
		d.DealState = EvolveDeal(d.DealState, e)
		p.dirty.deal(id)
		switch e := e.(type) {
		case DealApproved:
			d.approvalID, d.endedOn = env.EventID, Date{}
			out.add(p.claim(d))
		case DealOverridden:
			d.approvalID, d.endedOn = env.EventID, Date{}
			for _, x := range e.Displaced {
				if o := p.deals[x]; o != nil && o.endedOn.IsZero() {
					o.endedOn, o.displacedBy = e.ApprovedOn, e.DealID
					p.dirty.deal(x)
				}
			}
			out.add(p.claim(d))
		case DealWithdrawn:
			d.endedOn = e.On
		case DealLost:
			d.endedOn = e.On
		case DealExpired:
			d.endedOn = e.On
		case EngagementLogged:
			d.engagementIDs = append(d.engagementIDs, env.EventID)
			out.add(p.claim(d))
		case ServiceHandedOff:
			if d.handoffIDs == nil {
				d.handoffIDs = map[string]string{}
			}
			d.handoffIDs[e.OEMID] = env.EventID
		}
	case InvoiceReceived:
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

func (o *Outcome) add(x Outcome) {
	o.Credits = append(o.Credits, x.Credits...)
	o.Exceptions = append(o.Exceptions, x.Exceptions...)
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

// book returns the quarter an entry whose business quarter is q lands in: q itself, or the
// first open quarter after it when q is closed (then it is an adjustment of q).
func (p *Program) book(q Quarter) (Quarter, bool) {
	b := q
	for p.closed[b] {
		b = b.Next()
	}
	return b, b != q
}

func (p *Program) stamp(c Credit, natural Quarter) Credit {
	b, adj := p.book(natural)
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

type memoReturn struct {
	number string
	amount int64
}

type lineRec struct {
	line    int
	segment Segment
	amount  int64
	memos   *[]memoReturn // credit memo number -> amount returned on this line
	attr    lineAttr
}

func (l *lineRec) returned() int64 {
	var r int64
	if l.memos != nil {
		for _, m := range *l.memos {
			// Capped at each step: r <= l.amount and m.amount fit in int64 together
			// whatever the number of memos.
			if r += m.amount; r >= l.amount {
				return l.amount
			}
		}
	}
	return r
}

func (l *lineRec) setMemo(number string, amount int64) {
	if l.memos == nil {
		l.memos = &[]memoReturn{}
	}
	for i, m := range *l.memos {
		if m.number == number {
			(*l.memos)[i].amount = amount
			return
		}
	}
	*l.memos = append(*l.memos, memoReturn{number, amount})
}

// invoiceRec is what the program keeps of an invoice or credit memo (the latest revision).
type invoiceRec struct {
	revision int
	eventID  string
	oemID    string
	number   string
	date     Date
	currency string
	customer string    // the customer's name
	lines    []lineRec // sorted by line number; nil for a credit memo
}

func (r *invoiceRec) line(n int) *lineRec {
	i := sort.Search(len(r.lines), func(i int) bool { return r.lines[i].line >= n })
	if i < len(r.lines) && r.lines[i].line == n {
		return &r.lines[i]
	}
	return nil
}

// excRec is an open exception with the customer keys a claim matches it by.
type excRec struct {
	Exception
	custKey, domain string
}

func (p *Program) newRec(inv InvoiceReceived, eventID string) *invoiceRec {
	key := invKey(inv.OEMID, inv.InvoiceNumber)
	return &invoiceRec{revision: inv.Revision, eventID: eventID, oemID: p.intern(inv.OEMID), number: key[len(inv.OEMID)+1:],
		date: inv.InvoiceDate, currency: p.intern(inv.Currency), customer: p.intern(inv.Customer.Name)}
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
	if prev != nil {
		// Reverse the old revision's net credits (booked in its own quarter, or as an
		// adjustment when that quarter is closed), keeping returned amounts for the new one.
		for i := range prev.lines {
			old := &prev.lines[i]
			for _, c := range p.netCredits(prev, old) {
				c.Amount.Amount = -c.Amount.Amount
				c.Revision = inv.Revision
				c.Reason = fmt.Sprintf("reversal: revision %d supersedes revision %d (%s)", inv.Revision, prev.revision, c.Reason)
				c.EventIDs = append(append([]string(nil), c.EventIDs...), eventID)
				out.Credits = append(out.Credits, p.stamp(c, prev.date.Quarter()))
			}
		}
	}
	rec := p.newRec(inv, eventID)
	rec.lines = make([]lineRec, len(inv.Lines))
	for i, l := range inv.Lines {
		rec.lines[i] = lineRec{line: l.Line, segment: internSegment(l.Segment), amount: l.AmountMinor}
	}
	sort.SliceStable(rec.lines, func(i, j int) bool { return rec.lines[i].line < rec.lines[j].line })
	for _, l := range inv.Lines {
		lr := rec.line(l.Line)
		if prev != nil {
			if pl := prev.line(l.Line); pl != nil {
				lr.memos = pl.memos
			}
		}
		attr, exc := p.attribute(inv, eventID, l)
		lr.attr = attr
		ek := excKey(inv.OEMID, inv.InvoiceNumber, l.Line)
		if exc != nil {
			p.openException(ek, &excRec{Exception: *exc, custKey: CustomerKey(inv.Customer), domain: NormalizeDomain(inv.Customer.Domain)})
			p.dirty.exception(ek)
			out.Exceptions = append(out.Exceptions, *exc)
		} else if old := p.exceptions[ek]; old != nil && old.Status == "open" {
			old.Status = "superseded"
			out.Exceptions = append(out.Exceptions, old.Exception)
			delete(p.exceptions, ek)
			p.dirty.exception(ek)
		}
		for _, c := range p.netCredits(rec, lr) {
			out.Credits = append(out.Credits, p.stamp(c, inv.InvoiceDate.Quarter()))
		}
	}
	p.invoices[key] = rec
	p.dirty.invoice(key)
	return out, nil
}

// openException records an open exception and indexes it by the customer keys a later
// claim can match it by.
func (p *Program) openException(k string, e *excRec) {
	p.exceptions[k] = e
	p.excIndex[e.custKey] = append(p.excIndex[e.custKey], k)
	if e.domain != "" {
		p.excIndex["\x00"+e.domain] = append(p.excIndex["\x00"+e.domain], k)
	}
}

// netCredits returns a line's gross credits less the proportional clawback of what credit
// memos returned.
func (p *Program) netCredits(rec *invoiceRec, l *lineRec) []Credit {
	r := l.returned()
	out := p.gross(rec, l)
	for i := range out {
		out[i].Amount.Amount -= clawback(out[i].Amount.Amount, r, l.amount)
	}
	return out
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
	memo := &invoiceRec{revision: m.Revision, eventID: eventID}
	okey := invKey(m.OEMID, m.CreditMemoFor)
	orig := p.invoices[okey]
	if orig == nil {
		for _, l := range m.Lines {
			exc := &Exception{OEMID: m.OEMID, InvoiceNumber: m.InvoiceNumber, Revision: m.Revision, Line: l.Line,
				Customer: m.Customer.Name, Segment: l.Segment, InvoiceDate: m.InvoiceDate,
				Amount: Money{-l.AmountMinor, m.Currency}, Status: "open", EventIDs: []string{eventID},
				Tried: []string{"credit memo for " + m.CreditMemoFor + ", which was never received"}}
			out.Exceptions = append(out.Exceptions, *exc)
		}
		p.invoices[mkey] = memo
		p.dirty.invoice(mkey)
		return out, nil
	}
	for _, l := range m.Lines {
		lr := orig.line(l.Line)
		if lr == nil || lr.segment != l.Segment {
			out.Exceptions = append(out.Exceptions, Exception{OEMID: m.OEMID, InvoiceNumber: m.InvoiceNumber, Revision: m.Revision,
				Line: l.Line, Customer: m.Customer.Name, Segment: l.Segment, InvoiceDate: m.InvoiceDate,
				Amount: Money{-l.AmountMinor, m.Currency}, Status: "open", EventIDs: []string{eventID},
				Tried: []string{fmt.Sprintf("line %d of %s with segment %s", l.Line, m.CreditMemoFor, l.Segment)}})
			continue
		}
		before := p.netCredits(orig, lr)
		lr.setMemo(m.InvoiceNumber, l.AmountMinor)
		p.dirty.invoice(okey)
		after := p.netCredits(orig, lr)
		for i := range after {
			c := after[i]
			c.Amount.Amount -= before[i].Amount.Amount
			if c.Amount.Amount == 0 {
				continue
			}
			c.Revision = m.Revision
			c.Reason = fmt.Sprintf("clawback: credit memo %s returns %d of %d (%s)", m.InvoiceNumber, lr.returned(), lr.amount, before[i].Reason)
			c.EventIDs = append(append([]string(nil), c.EventIDs...), eventID)
			out.Credits = append(out.Credits, p.stamp(c, m.InvoiceDate.Quarter()))
		}
	}
	p.invoices[mkey] = memo
	p.dirty.invoice(mkey)
	return out, nil
}

// match finds the deal protecting (customer, segment) on day. Order: the invoice's
// deal_registration_id, then the normalised web domain, then normalised name + country;
// among several, the earliest approval (then the smallest id).
func (p *Program) match(inv InvoiceReceived, seg Segment, day Date, needSegment bool) (*dealRec, matchBy, []string) {
	var tried []string
	ok := func(d *dealRec) bool {
		if d == nil || d.approvalID == "" || day.Before(d.ApprovedOn) || day.After(d.ExpiresOn) {
			return false
		}
		if !d.endedOn.IsZero() && !day.Before(d.endedOn) {
			return false
		}
		return !needSegment || hasSegment(d.Segments, seg)
	}
	if id := inv.DealRegistrationID; id != "" {
		if d := p.deals[id]; ok(d) {
			return d, byRegistration, nil
		}
		tried = append(tried, "deal_registration_id "+id+": no protected registration for "+string(seg)+" on "+day.String())
	}
	pick := func(ids []string) *dealRec {
		var best *dealRec
		for _, id := range ids {
			d := p.deals[id]
			if ok(d) && (best == nil || d.ApprovedOn.Before(best.ApprovedOn) || (d.ApprovedOn == best.ApprovedOn && d.DealID < best.DealID)) {
				best = d
			}
		}
		return best
	}
	if dom := NormalizeDomain(inv.Customer.Domain); dom != "" {
		if d := pick(p.byDomain[dom]); d != nil {
			return d, byDomain, nil
		}
		tried = append(tried, "customer domain "+dom+": no protected registration for "+string(seg)+" on "+day.String())
	}
	key := CustomerKey(inv.Customer)
	if d := pick(p.byKey[key]); d != nil {
		return d, byKey, nil
	}
	tried = append(tried, "customer name and country "+key+": no protected registration for "+string(seg)+" on "+day.String())
	return nil, 0, tried
}

// attribute decides how one invoice line is attributed, and returns an Exception for an
// unmatched software line (which books an unattributed credit).
func (p *Program) attribute(inv InvoiceReceived, invID string, l InvoiceLine) (lineAttr, *Exception) {
	pi := p.policyIndex(inv.InvoiceDate)
	switch {
	case l.Segment.Direct():
		return lineAttr{kind: outDirect, pol: pi}, nil
	case l.Segment == SegmentServices:
		if d, how, _ := p.match(inv, l.Segment, inv.InvoiceDate, false); d != nil {
			if hid, ok := d.handoffIDs[inv.OEMID]; ok {
				to := ""
				for _, h := range d.Handoffs {
					if h.OEMID == inv.OEMID {
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
	d, how, tried := p.match(inv, l.Segment, inv.InvoiceDate, true)
	if d == nil {
		pol := p.policyOf(pi)
		return lineAttr{kind: outUnattributed, pol: pi}, &Exception{OEMID: inv.OEMID, InvoiceNumber: inv.InvoiceNumber, Revision: inv.Revision, Line: l.Line,
			Customer: inv.Customer.Name, Segment: l.Segment, InvoiceDate: inv.InvoiceDate, Amount: Money{l.AmountMinor, inv.Currency},
			Status: "open", Tried: tried, EventIDs: append([]string{invID}, filterEmpty([]string{pol.id})...)}
	}
	return lineAttr{kind: outPartner, pol: pi, p: p.partnerAttr(inv.InvoiceDate, d, how, p.policyOf(pi))}, nil
}

// partnerAttr snapshots what the partner credits of a line matched to d depend on.
func (p *Program) partnerAttr(day Date, d *dealRec, how matchBy, pol policyRec) *partnerAttr {
	a := &partnerAttr{dealID: d.DealID, partnerID: d.PartnerID, regID: d.regID, approvalID: d.approvalID, matched: how.text(d),
		engIDs: d.engagementIDs[:len(d.engagementIDs):len(d.engagementIDs)], tier: TierRegistered}
	if pr := p.partners[d.PartnerID]; pr != nil {
		a.tier, a.tierID = pr.tierAt(day)
	}
	a.bps = pol.RebateFor(a.tier, d.Geography)
	for _, id := range p.repOrder {
		r := p.reps[id]
		if r.Geography != d.Geography || (d.SizeBand != "" && r.SizeBand != d.SizeBand) || r.On.After(day) {
			continue
		}
		a.reps = append(a.reps, repSnap{r, p.repIDs[id]})
	}
	return a
}

// gross rebuilds the full credits of a line (before clawback) from its attribution record.
func (p *Program) gross(rec *invoiceRec, l *lineRec) []Credit {
	a := l.attr
	pol := p.policyOf(a.pol)
	base := Credit{OEMID: rec.oemID, InvoiceNumber: rec.number, Revision: rec.revision, Line: l.line,
		Customer: rec.customer, Segment: l.segment, Amount: Money{l.amount, rec.currency}, PolicyVersion: pol.Version}
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
		return []Credit{c}
	case outOEM:
		c := base
		c.Kind, c.PartnerID, c.Reason, c.EventIDs = CreditOEM, rec.oemID, "services delivered by the OEM (no service handoff)", ids(pol.id)
		return []Credit{c}
	case outUnattributed:
		c := base
		c.Kind, c.Reason, c.EventIDs = CreditUnattributed, "no registration matched; exception open", ids(pol.id)
		return []Credit{c}
	case outService:
		s := a.p
		c := base
		c.Kind, c.PartnerID, c.RegistrationID = CreditService, s.to, s.dealID
		c.Reason = fmt.Sprintf("%s declined the service side of deal %s (matched by %s); %s takes it", rec.oemID, s.dealID, s.matched, s.to)
		c.EventIDs = ids(s.regID, s.approvalID, s.handoffID, pol.id)
		return []Credit{c}
	}
	s := a.p
	how := s.matched
	if s.claimed {
		how = fmt.Sprintf("claim within %d grace days after engagement before the invoice date", s.grace)
	}
	evIDs := ids(s.regID, s.approvalID, pol.id)
	rev := base
	rev.Kind, rev.PartnerID, rev.RegistrationID = CreditRevenue, s.partnerID, s.dealID
	// Concatenation, not Sprintf: this runs for every attributed line of every rebuild.
	rev.Reason = "deal " + s.dealID + " of " + s.partnerID + " protects " + string(base.Segment) + " (matched by " + how +
		"); the OEM keeps the invoice, the partner keeps the credit"
	rev.EventIDs = append(append(make([]string, 0, len(evIDs)+len(s.engIDs)), evIDs...), s.engIDs...)
	reb := rev
	reb.Kind = CreditRebate
	reb.Amount.Amount = ApplyBPS(base.Amount.Amount, s.bps)
	reb.Reason = string(s.tier) + " rebate " + strconv.FormatInt(s.bps, 10) + " bps as of " + rec.date.String()
	reb.EventIDs = append(append(make([]string, 0, len(evIDs)+1), evIDs...), s.tierID)
	out := make([]Credit, 2, 2+len(s.reps))
	out[0], out[1] = rev, reb
	for _, r := range s.reps {
		fr := rev
		fr.Kind, fr.PartnerID = CreditFieldRep, r.rep.RepID
		fr.Amount.Amount = ApplyBPS(base.Amount.Amount, pol.FieldRepBPS)
		fr.Reason = "field rep " + r.rep.RepID + " covers " + r.rep.Geography + "/" + r.rep.SizeBand + "; deal " + s.dealID +
			" went through partner " + s.partnerID
		fr.EventIDs = append(append(make([]string, 0, len(evIDs)+1), evIDs...), r.id)
		out = append(out, fr)
	}
	if s.claimed {
		for i := range out {
			out[i].Reason += "; claimed late"
		}
	}
	return out
}

// claim resolves open exceptions the deal can claim: the deal was approved within the
// policy's claim grace window after the invoice date and its partner logged an engagement
// step on or before the invoice date.
func (p *Program) claim(d *dealRec) Outcome {
	var out Outcome
	if d.approvalID == "" || !d.endedOn.IsZero() {
		return out
	}
	for _, k := range p.claimCandidates(d) {
		exc := p.exceptions[k]
		if exc == nil || exc.Status != "open" || !hasSegment(d.Segments, exc.Segment) {
			continue
		}
		ikey := invKey(exc.OEMID, exc.InvoiceNumber)
		rec := p.invoices[ikey]
		if rec == nil || rec.line(exc.Line) == nil {
			continue
		}
		if exc.custKey != d.CustomerKey && (d.Customer.Domain == "" || exc.domain != d.Customer.Domain) {
			continue
		}
		pi := p.policyIndex(rec.date)
		pol := p.policyOf(pi)
		grace := pol.ClaimGraceDaysFor(d.Geography)
		if !d.ApprovedOn.After(rec.date) || d.ApprovedOn.After(rec.date.AddDays(grace)) {
			continue
		}
		worked := false
		for _, e := range d.Engagements {
			if e.PartnerID == d.PartnerID && !e.OccurredOn.After(rec.date) {
				worked = true
				break
			}
		}
		if !worked {
			continue
		}
		lr := rec.line(exc.Line)
		before := p.netCredits(rec, lr)
		a := p.partnerAttr(rec.date, d, 0, pol)
		a.claimed, a.grace = true, int32(grace)
		lr.attr = lineAttr{kind: outPartner, pol: pi, p: a}
		p.dirty.invoice(ikey)
		for _, c := range before {
			c.Amount.Amount = -c.Amount.Amount
			c.Reason = "reversal: line claimed by deal " + d.DealID
			c.EventIDs = append(append([]string(nil), c.EventIDs...), d.approvalID)
			out.Credits = append(out.Credits, p.stamp(c, rec.date.Quarter()))
		}
		for _, c := range p.netCredits(rec, lr) {
			out.Credits = append(out.Credits, p.stamp(c, rec.date.Quarter()))
		}
		exc.Status, exc.ClaimedBy = "claimed", d.DealID
		out.Exceptions = append(out.Exceptions, exc.Exception)
		delete(p.exceptions, k)
		p.dirty.exception(k)
	}
	return out
}

// claimCandidates returns the keys of the open exceptions whose customer matches d by
// name and country or by domain, sorted and without duplicates; it drops index entries of
// exceptions that are no longer open.
func (p *Program) claimCandidates(d *dealRec) []string {
	var keys []string
	for _, ik := range []string{d.CustomerKey, "\x00" + d.Customer.Domain} {
		if ik == "\x00" {
			continue
		}
		live := p.excIndex[ik][:0]
		for _, k := range p.excIndex[ik] {
			if e := p.exceptions[k]; e != nil && e.Status == "open" {
				live = append(live, k)
				keys = append(keys, k)
			}
		}
		if len(live) == 0 {
			delete(p.excIndex, ik)
		} else {
			p.excIndex[ik] = live
		}
	}
	sort.Strings(keys)
	out := keys[:0]
	for i, k := range keys {
		if i == 0 || k != keys[i-1] {
			out = append(out, k)
		}
	}
	return out
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
