package domain

import (
	"fmt"
	"sort"
)

// The records of a spilling program's state (spill.go): what Evict hands back and Load
// takes, and the core (Core, RestoreProgram). They are plain values; how they are
// stored is the store's business (the attribution projection encodes them).

// DealRecord is a registration's state between batches.
type DealRecord struct {
	State         DealState
	RegID         string // the registration event's id
	ApprovalID    string // the approval event's id ("" when not approved)
	ApprovalSeq   int64  // the approval's place in the log: the tie rule
	EndedOn       Date
	DisplacedBy   string
	EngagementIDs []string
	HandoffIDs    map[string]string // OEM -> the handoff event's id
}

// InvoiceRecord is an invoice's or credit memo's state between batches: its latest
// revision and how each line was attributed.
type InvoiceRecord struct {
	Revision int
	EventID  string
	OEMID    string
	Number   string
	Date     Date
	Currency string
	Customer string // the customer's name
	CustKey  string // the customer key a line is matched by
	Domain   string // the normalised web domain
	RegID    string // the invoice's deal_registration_id
	MemoFor  string // a credit memo's invoice number ("" for an invoice)
	Lines    []LineRecord
	// Parked are the credit memos' returns on lines a revision dropped (Line and Memos
	// set), kept for a revision that brings the line back.
	Parked []LineRecord
}

// LineRecord is one invoice line: its amount, what credit memos returned on it and how
// it was attributed.
type LineRecord struct {
	Line    int
	Segment Segment
	Amount  int64
	Memos   []MemoRecord
	Kind    uint8 // the fold's outcome code; Load refuses one it does not know
	Policy  int32 // index of the policy version in the core's Policies, -1 = the defaults
	Partner *LinePartner
	Manual  *ManualDecision // the manual decision the line follows (exception queue), nil when none
}

// MemoRecord is what one credit memo returned on a line.
type MemoRecord struct {
	Number   string
	Amount   int64
	Segment  Segment
	Date     Date
	EventID  string
	Revision int
	Currency string // the memo's currency ("" in a record written before it was kept: the invoice's)
}

// LinePartner is what a line's partner or service credit depends on, as it stood when
// the line was attributed (or claimed).
type LinePartner struct {
	DealID     string
	PartnerID  string
	RegID      string
	ApprovalID string
	Matched    string
	Claimed    bool
	Grace      int32
	EngIDs     []string
	Tier       Tier
	TierID     string
	BPS        int64
	Reps       []RepRecord
	To         string
	HandoffID  string
}

// RepRecord is a field rep credited on a line, with the assignment's event id.
type RepRecord struct {
	Rep FieldRepAssigned
	ID  string
}

// CoreRecord is a spilling program's state without its working set: partners, seats,
// policies, closed quarters, field reps, credited totals, revenue mix and position.
type CoreRecord struct {
	Position int64
	Seq      int64
	Pending  map[string][]string // invoice key -> keys of the credit memos waiting for it
	Partners []PartnerRecord
	Geos     map[string]GeoState
	Policies []PolicyRecord
	Closed   []Quarter
	Reps     map[string]FieldRepAssigned
	RepIDs   map[string]string
	Credited []CreditedRecord
	Mix      []Mix
	// Manual: the manual decisions in force (exception queue), by invoice key and line;
	// Approved: partner -> the quarters whose statement is approved.
	Manual   []ManualRecord
	Approved map[string][]Quarter
	// Outside: partner -> quarter -> registrations flagged outside its commitment (rule 8a).
	Outside map[string]map[string]int
	// Gross: currency -> the gross of its facts (totals.go).
	Gross map[string]int64
}

// ManualRecord is the manual decision in force on one invoice line.
type ManualRecord struct {
	Invoice  string // the invoice key (OEM and number)
	Line     int
	Decision ManualDecision
}

// PartnerRecord is a partner's state with the events that gave its tiers.
type PartnerRecord struct {
	ID    string
	State PartnerState
	Tiers []TierRecord
}

// TierRecord is a tier span with the id of the event that gave it.
type TierRecord struct {
	Span TierSpan
	ID   string
}

// PolicyRecord is a policy version with the id of the event that set it.
type PolicyRecord struct {
	Policy Policy
	ID     string
}

// CreditedRecord is a partner's credited revenue in a quarter and currency.
type CreditedRecord struct {
	PartnerID string
	Quarter   Quarter
	Currency  string
	Amount    int64
}

func dealRecord(d *dealRec) DealRecord {
	return DealRecord{State: d.DealState, RegID: d.regID, ApprovalID: d.approvalID, ApprovalSeq: d.approvalSeq, EndedOn: d.endedOn,
		DisplacedBy: d.displacedBy, EngagementIDs: d.engagementIDs, HandoffIDs: d.handoffIDs}
}

func dealFromRecord(r DealRecord) *dealRec {
	return &dealRec{DealState: r.State, regID: r.RegID, approvalID: r.ApprovalID, approvalSeq: r.ApprovalSeq, endedOn: r.EndedOn,
		displacedBy: r.DisplacedBy, engagementIDs: r.EngagementIDs, handoffIDs: r.HandoffIDs}
}

func invoiceRecord(r *invoiceRec) InvoiceRecord {
	j := InvoiceRecord{Revision: r.revision, EventID: r.eventID, OEMID: r.oemID, Number: r.number, Date: r.date,
		Currency: r.currency, Customer: r.customer, CustKey: r.custKey, Domain: r.domain, RegID: r.regID, MemoFor: r.memoFor}
	if r.lines != nil {
		j.Lines = make([]LineRecord, len(r.lines))
	}
	for i, l := range r.lines {
		lj := LineRecord{Line: l.line, Segment: l.segment, Amount: l.amount, Kind: uint8(l.attr.kind), Policy: l.attr.pol, Manual: l.attr.m}
		lj.Memos = memoRecords(l.memos)
		if a := l.attr.p; a != nil {
			pj := &LinePartner{DealID: a.dealID, PartnerID: a.partnerID, RegID: a.regID, ApprovalID: a.approvalID,
				Matched: a.matched, Claimed: a.claimed, Grace: a.grace, EngIDs: a.engIDs, Tier: a.tier, TierID: a.tierID,
				BPS: a.bps, To: a.to, HandoffID: a.handoffID}
			if a.reps != nil {
				pj.Reps = make([]RepRecord, len(a.reps))
				for k, s := range a.reps {
					pj.Reps[k] = RepRecord{s.rep, s.id}
				}
			}
			lj.Partner = pj
		}
		j.Lines[i] = lj
	}
	for _, l := range r.parked {
		j.Parked = append(j.Parked, LineRecord{Line: l.line, Memos: memoRecords(l.memos)})
	}
	return j
}

// memoRecords returns the stored form of a line's credit memo returns.
func memoRecords(memos *[]memoReturn) []MemoRecord {
	if memos == nil {
		return nil
	}
	out := make([]MemoRecord, len(*memos))
	for k, m := range *memos {
		out[k] = MemoRecord{m.number, m.amount, m.segment, m.date, m.eventID, m.revision, m.currency}
	}
	return out
}

// memoReturns returns a line's credit memo returns from their stored form; a return
// stored before the memo's currency was kept is in currency, the invoice's.
func (p *Program) memoReturns(ms []MemoRecord, currency string) *[]memoReturn {
	if ms == nil {
		return nil
	}
	out := make([]memoReturn, len(ms))
	for k, m := range ms {
		cur := m.Currency
		if cur == "" {
			cur = currency
		}
		out[k] = memoReturn{m.Number, m.Amount, internSegment(m.Segment), m.Date, m.EventID, m.Revision, p.intern(cur)}
	}
	return &out
}

func (p *Program) invoiceFromRecord(j InvoiceRecord) (*invoiceRec, error) {
	r := &invoiceRec{revision: j.Revision, eventID: j.EventID, oemID: p.intern(j.OEMID), number: j.Number, date: j.Date,
		currency: p.intern(j.Currency), customer: j.Customer, custKey: p.intern(j.CustKey), domain: p.intern(j.Domain),
		regID: j.RegID, memoFor: j.MemoFor}
	if j.Lines != nil {
		r.lines = make([]lineRec, len(j.Lines))
	}
	for i, lj := range j.Lines {
		if lj.Policy < -1 || lj.Policy >= int32(len(p.policies)) {
			return nil, fmt.Errorf("line %d: policy index %d of %d", lj.Line, lj.Policy, len(p.policies))
		}
		if outcome(lj.Kind) > outDismissed {
			return nil, fmt.Errorf("line %d: outcome %d unknown", lj.Line, lj.Kind)
		}
		l := lineRec{line: lj.Line, segment: internSegment(lj.Segment), amount: lj.Amount,
			attr: lineAttr{kind: outcome(lj.Kind), pol: lj.Policy, m: lj.Manual}}
		l.memos = p.memoReturns(lj.Memos, j.Currency)
		if pj := lj.Partner; pj != nil {
			a := &partnerAttr{dealID: pj.DealID, partnerID: pj.PartnerID, regID: pj.RegID, approvalID: pj.ApprovalID,
				matched: pj.Matched, claimed: pj.Claimed, grace: pj.Grace, engIDs: pj.EngIDs, tier: pj.Tier, tierID: pj.TierID,
				bps: pj.BPS, to: pj.To, handoffID: pj.HandoffID}
			if pj.Reps != nil {
				a.reps = make([]repSnap, len(pj.Reps))
				for k, s := range pj.Reps {
					a.reps[k] = repSnap{s.Rep, s.ID}
				}
			}
			l.attr.p = a
		}
		r.lines[i] = l
	}
	for _, lj := range j.Parked {
		if len(lj.Memos) == 0 {
			return nil, fmt.Errorf("parked line %d: no credit memo returns", lj.Line)
		}
		r.parked = append(r.parked, lineRec{line: lj.Line, memos: p.memoReturns(lj.Memos, j.Currency)})
	}
	return r, nil
}

// Core returns the program's state without its working set (the records Evict hands
// back), sorted so that equal programs give equal records. The record shares maps and
// slices with the program: encode it before the program folds again.
func (p *Program) Core() CoreRecord {
	c := CoreRecord{Position: p.position, Seq: p.seq, Pending: p.pending, Geos: p.geos, Reps: p.reps, RepIDs: p.repIDs, Outside: p.outside,
		Gross: p.totalsGross}
	for _, k := range sortedKeys(p.manual) {
		for _, line := range sortedKeys(p.manual[k]) {
			c.Manual = append(c.Manual, ManualRecord{k, line, p.manual[k][line]})
		}
	}
	for _, id := range sortedKeys(p.approved) {
		if c.Approved == nil {
			c.Approved = map[string][]Quarter{}
		}
		for q := range p.approved[id] {
			c.Approved[id] = append(c.Approved[id], q)
		}
		sort.Slice(c.Approved[id], func(i, j int) bool { return c.Approved[id][i].Compare(c.Approved[id][j]) < 0 })
	}
	for _, id := range sortedKeys(p.partners) {
		r := p.partners[id]
		pc := PartnerRecord{ID: id, State: r.PartnerState}
		for _, t := range r.tierIDs {
			pc.Tiers = append(pc.Tiers, TierRecord{t.span, t.id})
		}
		c.Partners = append(c.Partners, pc)
	}
	for _, r := range p.policies {
		c.Policies = append(c.Policies, PolicyRecord{r.Policy, r.id})
	}
	for q := range p.closed {
		c.Closed = append(c.Closed, q)
	}
	sort.Slice(c.Closed, func(i, j int) bool { return c.Closed[i].Compare(c.Closed[j]) < 0 })
	for k, v := range p.credited {
		c.Credited = append(c.Credited, CreditedRecord{k.partner, k.quarter, k.currency, v})
	}
	sort.Slice(c.Credited, func(i, j int) bool {
		a, b := c.Credited[i], c.Credited[j]
		if a.PartnerID != b.PartnerID {
			return a.PartnerID < b.PartnerID
		}
		if x := a.Quarter.Compare(b.Quarter); x != 0 {
			return x < 0
		}
		return a.Currency < b.Currency
	})
	for _, m := range p.mix {
		c.Mix = append(c.Mix, *m)
	}
	sort.Slice(c.Mix, func(i, j int) bool {
		a, b := c.Mix[i], c.Mix[j]
		if x := a.Quarter.Compare(b.Quarter); x != 0 {
			return x < 0
		}
		return a.Currency < b.Currency
	})
	return c
}

// RestoreProgram returns a spilling program holding c (its working set empty). It
// takes c's maps and slices over.
func RestoreProgram(c CoreRecord) *Program {
	p := NewSpillingProgram()
	p.position, p.seq = c.Position, c.Seq
	if c.Pending != nil {
		p.pending = c.Pending
	}
	if c.Outside != nil {
		p.outside = c.Outside
	}
	if c.Gross != nil {
		p.totalsGross = c.Gross
	}
	for _, m := range c.Manual {
		if p.manual[m.Invoice] == nil {
			p.manual[m.Invoice] = map[int]ManualDecision{}
		}
		p.manual[m.Invoice][m.Line] = m.Decision
	}
	for id, qs := range c.Approved {
		p.approved[id] = map[Quarter]bool{}
		for _, q := range qs {
			p.approved[id][q] = true
		}
	}
	for _, pc := range c.Partners {
		r := &partnerRec{PartnerState: pc.State}
		for _, t := range pc.Tiers {
			r.tierIDs = append(r.tierIDs, tierRec{t.Span, t.ID})
		}
		p.partners[pc.ID] = r
	}
	if c.Geos != nil {
		p.geos = c.Geos
	}
	for _, r := range c.Policies {
		p.policies = append(p.policies, policyRec{r.Policy, r.ID})
	}
	for _, q := range c.Closed {
		p.closed[q] = true
	}
	if c.Reps != nil {
		p.reps = c.Reps
	}
	if c.RepIDs != nil {
		p.repIDs = c.RepIDs
	}
	p.repOrder = sortedKeys(p.reps)
	for _, v := range c.Credited {
		p.credited[creditedKey{v.PartnerID, v.Quarter, v.Currency}] = v.Amount
	}
	for _, m := range c.Mix {
		p.mix[mixKey{m.Quarter, m.Currency}] = &m
	}
	return p
}
