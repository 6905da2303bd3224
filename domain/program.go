package domain

import (
	"fmt"
	"sort"
	"time"
)

// Envelope is an event as read from the log (domain cannot import eventstore; the
// projection converts).
type Envelope struct {
	Position   int64
	EventID    string
	StreamID   string
	Type       string
	OccurredAt time.Time
	RecordedAt time.Time
	Event      Event
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

type lineRec struct {
	line    InvoiceLine
	gross   []Credit         // full credits of the current revision
	memos   map[string]int64 // credit memo number -> amount returned on this line
	booked  Quarter
	invDate Date
}

func (l *lineRec) returned() int64 {
	var r int64
	for _, k := range sortedKeys(l.memos) {
		r += l.memos[k]
	}
	if r > l.line.AmountMinor {
		r = l.line.AmountMinor
	}
	return r
}

type invoiceRec struct {
	inv     InvoiceReceived
	eventID string
	lines   map[int]*lineRec
	// memoLines: for a credit memo, its latest revision's amounts per original line.
	memoLines map[int]int64
}

type policyRec struct {
	Policy
	id string
}

// Program is the whole partner program's state folded from the log in order: partners,
// tiers, seats, policy versions, registrations, engagements, handoffs, quarters, field reps
// and the invoice lines needed for revisions and credit-memo clawback. It is deterministic
// and its memory is bounded by the number of partners, deals and invoice lines.
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
	invoices   map[string]*invoiceRec
	exceptions map[string]*Exception
	credited   map[string]int64 // partner|quarter|currency -> revenue credit
	mix        map[string]*Mix  // quarter|currency
	position   int64
}

// NewProgram returns an empty program.
func NewProgram() *Program {
	return &Program{
		partners: map[string]*partnerRec{}, geos: map[string]GeoState{}, deals: map[string]*dealRec{},
		byKey: map[string][]string{}, byDomain: map[string][]string{}, closed: map[Quarter]bool{},
		reps: map[string]FieldRepAssigned{}, repIDs: map[string]string{}, invoices: map[string]*invoiceRec{},
		exceptions: map[string]*Exception{}, credited: map[string]int64{}, mix: map[string]*Mix{},
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
	case DealRegistered:
		d := &dealRec{regID: env.EventID, handoffIDs: map[string]string{}}
		d.DealState = EvolveDeal(DealState{}, e)
		p.deals[e.DealID] = d
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
		switch e := e.(type) {
		case DealApproved:
			d.approvalID, d.endedOn = env.EventID, Date{}
			out.add(p.claim(d))
		case DealOverridden:
			d.approvalID, d.endedOn = env.EventID, Date{}
			for _, x := range e.Displaced {
				if o := p.deals[x]; o != nil && o.endedOn.IsZero() {
					o.endedOn, o.displacedBy = e.ApprovedOn, e.DealID
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
		p.count(out.Credits[i])
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

func invKey(oem, number string) string { return oem + "\x00" + number }

func excKey(oem, number string, line int) string {
	return fmt.Sprintf("%s\x00%s\x00%d", oem, number, line)
}

func (p *Program) applyInvoice(inv InvoiceReceived, eventID string) (Outcome, error) {
	if inv.Kind == KindCreditMemo {
		return p.applyCreditMemo(inv, eventID)
	}
	var out Outcome
	key := invKey(inv.OEMID, inv.InvoiceNumber)
	prev := p.invoices[key]
	if prev != nil && inv.Revision <= prev.inv.Revision {
		return out, nil // an older or equal revision arriving late changes nothing
	}
	rec := &invoiceRec{inv: inv, eventID: eventID, lines: map[int]*lineRec{}}
	if prev != nil {
		// Reverse the old revision's net credits (booked in its own quarter, or as an
		// adjustment when that quarter is closed), keeping returned amounts for the new one.
		for _, n := range sortedInts(prev.lines) {
			old := prev.lines[n]
			for _, c := range netCredits(old) {
				c.Amount.Amount = -c.Amount.Amount
				c.Revision = inv.Revision
				c.Reason = fmt.Sprintf("reversal: revision %d supersedes revision %d (%s)", inv.Revision, prev.inv.Revision, c.Reason)
				c.EventIDs = append(append([]string(nil), c.EventIDs...), eventID)
				out.Credits = append(out.Credits, p.stamp(c, old.invDate.Quarter()))
			}
		}
	}
	for _, l := range inv.Lines {
		lr := &lineRec{line: l, invDate: inv.InvoiceDate, memos: map[string]int64{}}
		if prev != nil && prev.lines[l.Line] != nil {
			lr.memos = prev.lines[l.Line].memos
		}
		gross, exc := p.attribute(inv, eventID, l)
		lr.gross = gross
		rec.lines[l.Line] = lr
		ek := excKey(inv.OEMID, inv.InvoiceNumber, l.Line)
		if exc != nil {
			p.exceptions[ek] = exc
			out.Exceptions = append(out.Exceptions, *exc)
		} else if old := p.exceptions[ek]; old != nil && old.Status == "open" {
			old.Status = "superseded"
			out.Exceptions = append(out.Exceptions, *old)
			delete(p.exceptions, ek)
		}
		for _, c := range netCredits(lr) {
			out.Credits = append(out.Credits, p.stamp(c, inv.InvoiceDate.Quarter()))
		}
	}
	p.invoices[key] = rec
	return out, nil
}

// netCredits returns a line's gross credits less the proportional clawback of what credit
// memos returned.
func netCredits(l *lineRec) []Credit {
	r := l.returned()
	out := make([]Credit, 0, len(l.gross))
	for _, g := range l.gross {
		c := g
		c.Amount.Amount = g.Amount.Amount - clawback(g.Amount.Amount, r, l.line.AmountMinor)
		out = append(out, c)
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
	if prevMemo != nil && m.Revision <= prevMemo.inv.Revision {
		return out, nil
	}
	orig := p.invoices[invKey(m.OEMID, m.CreditMemoFor)]
	if orig == nil {
		for _, l := range m.Lines {
			exc := &Exception{OEMID: m.OEMID, InvoiceNumber: m.InvoiceNumber, Revision: m.Revision, Line: l.Line,
				Customer: m.Customer.Name, Segment: l.Segment, InvoiceDate: m.InvoiceDate,
				Amount: Money{-l.AmountMinor, m.Currency}, Status: "open", EventIDs: []string{eventID},
				Tried: []string{"credit memo for " + m.CreditMemoFor + ", which was never received"}}
			out.Exceptions = append(out.Exceptions, *exc)
		}
		p.invoices[mkey] = &invoiceRec{inv: m, eventID: eventID}
		return out, nil
	}
	for _, l := range m.Lines {
		lr := orig.lines[l.Line]
		if lr == nil || lr.line.Segment != l.Segment {
			out.Exceptions = append(out.Exceptions, Exception{OEMID: m.OEMID, InvoiceNumber: m.InvoiceNumber, Revision: m.Revision,
				Line: l.Line, Customer: m.Customer.Name, Segment: l.Segment, InvoiceDate: m.InvoiceDate,
				Amount: Money{-l.AmountMinor, m.Currency}, Status: "open", EventIDs: []string{eventID},
				Tried: []string{fmt.Sprintf("line %d of %s with segment %s", l.Line, m.CreditMemoFor, l.Segment)}})
			continue
		}
		before := netCredits(lr)
		lr.memos[m.InvoiceNumber] = l.AmountMinor
		after := netCredits(lr)
		for i := range after {
			c := after[i]
			c.Amount.Amount -= before[i].Amount.Amount
			if c.Amount.Amount == 0 {
				continue
			}
			c.Revision = m.Revision
			c.Reason = fmt.Sprintf("clawback: credit memo %s returns %d of %d (%s)", m.InvoiceNumber, lr.returned(), lr.line.AmountMinor, before[i].Reason)
			c.EventIDs = append(append([]string(nil), c.EventIDs...), eventID)
			out.Credits = append(out.Credits, p.stamp(c, m.InvoiceDate.Quarter()))
		}
	}
	p.invoices[mkey] = &invoiceRec{inv: m, eventID: eventID}
	return out, nil
}

// match finds the deal protecting (customer, segment) on day. Order: the invoice's
// deal_registration_id, then the normalised web domain, then normalised name + country;
// among several, the earliest approval (then the smallest id).
func (p *Program) match(inv InvoiceReceived, seg Segment, day Date, needSegment bool) (*dealRec, string, []string) {
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
			return d, "deal_registration_id " + id, nil
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
			return d, "customer domain " + dom, nil
		}
		tried = append(tried, "customer domain "+dom+": no protected registration for "+string(seg)+" on "+day.String())
	}
	key := CustomerKey(inv.Customer)
	if d := pick(p.byKey[key]); d != nil {
		return d, "customer name and country " + key, nil
	}
	tried = append(tried, "customer name and country "+key+": no protected registration for "+string(seg)+" on "+day.String())
	return nil, "", tried
}

// attribute returns the gross credits of one invoice line, or an Exception for an
// unmatched software line (plus its unattributed credit).
func (p *Program) attribute(inv InvoiceReceived, invID string, l InvoiceLine) ([]Credit, *Exception) {
	pol := p.policyAt(inv.InvoiceDate)
	base := Credit{OEMID: inv.OEMID, InvoiceNumber: inv.InvoiceNumber, Revision: inv.Revision, Line: l.Line,
		Customer: inv.Customer.Name, Segment: l.Segment, Amount: Money{l.AmountMinor, inv.Currency}, PolicyVersion: pol.Version}
	ids := func(x ...string) []string {
		out := []string{invID}
		for _, s := range x {
			if s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	switch {
	case l.Segment.Direct():
		c := base
		c.Kind, c.Reason, c.EventIDs = CreditDirect, string(l.Segment)+" stays direct revenue", ids(pol.id)
		return []Credit{c}, nil
	case l.Segment == SegmentServices:
		if d, how, _ := p.match(inv, l.Segment, inv.InvoiceDate, false); d != nil {
			if hid, ok := d.handoffIDs[inv.OEMID]; ok {
				to := ""
				for _, h := range d.Handoffs {
					if h.OEMID == inv.OEMID {
						to = h.ToPartnerID
					}
				}
				c := base
				c.Kind, c.PartnerID, c.RegistrationID = CreditService, to, d.DealID
				c.Reason = fmt.Sprintf("%s declined the service side of deal %s (matched by %s); %s takes it", inv.OEMID, d.DealID, how, to)
				c.EventIDs = ids(d.regID, d.approvalID, hid, pol.id)
				return []Credit{c}, nil
			}
		}
		c := base
		c.Kind, c.PartnerID, c.Reason, c.EventIDs = CreditOEM, inv.OEMID, "services delivered by the OEM (no service handoff)", ids(pol.id)
		return []Credit{c}, nil
	}
	d, how, tried := p.match(inv, l.Segment, inv.InvoiceDate, true)
	if d == nil {
		c := base
		c.Kind, c.Reason, c.EventIDs = CreditUnattributed, "no registration matched; exception open", ids(pol.id)
		return []Credit{c}, &Exception{OEMID: inv.OEMID, InvoiceNumber: inv.InvoiceNumber, Revision: inv.Revision, Line: l.Line,
			Customer: inv.Customer.Name, Segment: l.Segment, InvoiceDate: inv.InvoiceDate, Amount: base.Amount,
			Status: "open", Tried: tried, EventIDs: ids(pol.id)}
	}
	return p.partnerCredits(base, inv, d, how, pol, ids(d.regID, d.approvalID, pol.id)), nil
}

func (p *Program) partnerCredits(base Credit, inv InvoiceReceived, d *dealRec, how string, pol policyRec, evIDs []string) []Credit {
	pr := p.partners[d.PartnerID]
	tier, tierID := TierRegistered, ""
	if pr != nil {
		tier, tierID = pr.tierAt(inv.InvoiceDate)
	}
	rev := base
	rev.Kind, rev.PartnerID, rev.RegistrationID = CreditRevenue, d.PartnerID, d.DealID
	rev.Reason = fmt.Sprintf("deal %s of %s protects %s (matched by %s); the OEM keeps the invoice, the partner keeps the credit", d.DealID, d.PartnerID, base.Segment, how)
	rev.EventIDs = append(append([]string(nil), evIDs...), d.engagementIDs...)
	reb := rev
	bps := pol.RebateFor(tier, d.Geography)
	reb.Kind = CreditRebate
	reb.Amount.Amount = ApplyBPS(base.Amount.Amount, bps)
	reb.Reason = fmt.Sprintf("%s rebate %d bps as of %s", tier, bps, inv.InvoiceDate)
	reb.EventIDs = append(append([]string(nil), evIDs...), tierID)
	out := []Credit{rev, reb}
	for _, id := range sortedKeys(p.reps) {
		r := p.reps[id]
		if r.Geography != d.Geography || (d.SizeBand != "" && r.SizeBand != d.SizeBand) || r.On.After(inv.InvoiceDate) {
			continue
		}
		fr := rev
		fr.Kind, fr.PartnerID = CreditFieldRep, id
		fr.Amount.Amount = ApplyBPS(base.Amount.Amount, pol.FieldRepBPS)
		fr.Reason = fmt.Sprintf("field rep %s covers %s/%s; deal %s went through partner %s", id, r.Geography, r.SizeBand, d.DealID, d.PartnerID)
		fr.EventIDs = append(append([]string(nil), evIDs...), p.repIDs[id])
		out = append(out, fr)
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
	for _, k := range sortedKeys(p.exceptions) {
		exc := p.exceptions[k]
		if exc.Status != "open" || !hasSegment(d.Segments, exc.Segment) {
			continue
		}
		rec := p.invoices[invKey(exc.OEMID, exc.InvoiceNumber)]
		if rec == nil || rec.lines[exc.Line] == nil {
			continue
		}
		inv := rec.inv
		if CustomerKey(inv.Customer) != d.CustomerKey && (d.Customer.Domain == "" || NormalizeDomain(inv.Customer.Domain) != d.Customer.Domain) {
			continue
		}
		pol := p.policyAt(inv.InvoiceDate)
		grace := pol.ClaimGraceDaysFor(d.Geography)
		if !d.ApprovedOn.After(inv.InvoiceDate) || d.ApprovedOn.After(inv.InvoiceDate.AddDays(grace)) {
			continue
		}
		var worked []string
		for i, e := range d.Engagements {
			if e.PartnerID == d.PartnerID && !e.OccurredOn.After(inv.InvoiceDate) {
				worked = append(worked, d.engagementIDs[i])
			}
		}
		if len(worked) == 0 {
			continue
		}
		lr := rec.lines[exc.Line]
		before := netCredits(lr)
		base := Credit{OEMID: inv.OEMID, InvoiceNumber: inv.InvoiceNumber, Revision: inv.Revision, Line: exc.Line,
			Customer: inv.Customer.Name, Segment: exc.Segment, Amount: exc.Amount, PolicyVersion: pol.Version}
		evIDs := []string{rec.eventID, d.regID, d.approvalID, pol.id}
		lr.gross = p.partnerCredits(base, inv, d, fmt.Sprintf("claim within %d grace days after engagement before the invoice date", grace), pol, evIDs)
		for i := range lr.gross {
			lr.gross[i].Reason += "; claimed late"
		}
		for _, c := range before {
			c.Amount.Amount = -c.Amount.Amount
			c.Reason = "reversal: line claimed by deal " + d.DealID
			c.EventIDs = append(append([]string(nil), c.EventIDs...), d.approvalID)
			out.Credits = append(out.Credits, p.stamp(c, inv.InvoiceDate.Quarter()))
		}
		for _, c := range netCredits(lr) {
			out.Credits = append(out.Credits, p.stamp(c, inv.InvoiceDate.Quarter()))
		}
		exc.Status, exc.ClaimedBy = "claimed", d.DealID
		out.Exceptions = append(out.Exceptions, *exc)
		delete(p.exceptions, k)
	}
	return out
}

func sortedInts[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
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
