package domain

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// A Program folding a log of any length in bounded memory keeps its per-deal,
// per-invoice and per-exception records outside the process (the attribution
// projection keeps them in Postgres beside its read models). Before folding a
// batch, the caller asks the program what the batch may read (Wants), loads
// those records from its store (Load), folds the batch, then takes back what
// changed and lets the program drop the rest (Evict). The remaining state
// (partners, tiers, seats, policies, quarters, field reps, credited totals,
// revenue mix, and the manual decisions of the exception queue, one per line
// worked by hand) grows with partners, quarters and the analysts' work, not
// with the log; it is saved
// whole with MarshalCore and restored with UnmarshalProgram.
//
// A program from NewProgram never evicts anything and needs no store.
//
// The stored forms (Data, MarshalCore) are the attribution projection's: a change to
// them, or to what a fold reads, must come with a new projections/attribution Version,
// so that runners rebuild tables written by the old code instead of loading them.

// DayKey is a customer key or normalised web domain with the invoice date on which a
// protecting registration is looked up, and the last approval day of a registration that
// can still claim the line (the invoice date plus the longest claim grace).
type DayKey struct {
	Key   string
	Day   Date
	Until Date
}

// InvoiceRef names an invoice or credit memo.
type InvoiceRef struct {
	OEMID  string
	Number string
}

// IndexKey names the invoices a re-attribution visits: those whose index keys
// (StoredInvoice.Keys) hold Key ("*": every invoice) and whose date is on or after From.
type IndexKey struct {
	Key  string
	From Date
}

// DealFrom names the invoices a deal event may re-attribute: those indexed under the
// stored deal's customer key ("k:"), normalised domain ("d:") or id ("r:"), dated on or
// after From.
type DealFrom struct {
	ID   string
	From Date
}

// Wants lists the stored records that folding some envelopes may read. A store answers
// with every stored record matching any entry; returning more is harmless. With every
// invoice it returns, it returns the open exceptions of the invoice's lines.
type Wants struct {
	// DealIDs: deals by id.
	DealIDs []string
	// DealsByKey: deals of the customer key that protect on Day or can claim a line of
	// that day: approved (StoredDeal.Approved) with ApprovedOn <= Until and ExpiresOn >= Day.
	DealsByKey []DayKey
	// DealsByDomain: the same by normalised web domain.
	DealsByDomain []DayKey
	// Invoices: invoices and credit memos by OEM and number.
	Invoices []InvoiceRef
	// InvoicesByIndex: the invoices a re-attribution visits.
	InvoicesByIndex []IndexKey
	// InvoicesOfDeals: the invoices a deal event may re-attribute (the deals are stored).
	InvoicesOfDeals []DealFrom

	regs  map[string]DealRegistered // registrations earlier in the batch
	grace int                       // the longest claim grace of the policies earlier in the batch
}

// StoredDeal is a registration's record with the columns a store looks it up by.
type StoredDeal struct {
	New         bool // from Evict: the store did not have it (it was not loaded)
	ID          string
	CustomerKey string
	Domain      string // normalised; "" when none
	Approved    bool   // the deal has an approval; ApprovedOn and ExpiresOn bound its protection
	ApprovedOn  Date
	ExpiresOn   Date
	Data        []byte
}

// StoredInvoice is an invoice's or credit memo's record (its latest revision) with the
// columns a re-attribution finds it by.
type StoredInvoice struct {
	New bool // from Evict: the store did not have it (it was not loaded)
	InvoiceRef
	Keys []string // index keys (customer key, domain, registration, credited partners); none for a credit memo
	Date Date     // the invoice date; zero for a credit memo
	Data []byte
}

// ExceptionRef names an exception: an invoice line.
type ExceptionRef struct {
	InvoiceRef
	Line int
}

// StoredException is an open exception's record; it is loaded with its invoice.
type StoredException struct {
	New bool // from Evict: the store did not have it (it was not loaded)
	ExceptionRef
	Data []byte
}

// Stored is a set of stored records: what a store loads for Wants, or what Evict hands
// back to be written. Closed lists exceptions that are no longer open (to delete).
type Stored struct {
	Deals      []StoredDeal
	Invoices   []StoredInvoice
	Exceptions []StoredException
	Closed     []ExceptionRef
}

// dirtySet tracks, between two Evicts, the records that changed and those that were
// loaded (a changed record that was not loaded is new to the store).
type dirtySet struct {
	deals, invoices, exceptions                   map[string]struct{}
	loadedDeals, loadedInvoices, loadedExceptions map[string]struct{}
}

func newDirtySet() *dirtySet {
	return &dirtySet{deals: map[string]struct{}{}, invoices: map[string]struct{}{}, exceptions: map[string]struct{}{},
		loadedDeals: map[string]struct{}{}, loadedInvoices: map[string]struct{}{}, loadedExceptions: map[string]struct{}{}}
}

func loaded(set map[string]struct{}, key string) {
	if set != nil {
		set[key] = struct{}{}
	}
}

func (d *dirtySet) deal(id string) {
	if d != nil {
		d.deals[id] = struct{}{}
	}
}

func (d *dirtySet) invoice(key string) {
	if d != nil {
		d.invoices[key] = struct{}{}
	}
}

func (d *dirtySet) exception(key string) {
	if d != nil {
		d.exceptions[key] = struct{}{}
	}
}

// NewSpillingProgram returns an empty program that tracks its changes for Evict.
func NewSpillingProgram() *Program {
	p := NewProgram()
	p.dirty = newDirtySet()
	return p
}

// Wants adds to w the stored records that folding env may read. After loading them,
// WantsMore names what the loaded invoices need in turn.
func (p *Program) Wants(env Envelope, w *Wants) {
	grace := max(p.maxGrace(), w.grace)
	switch e := env.Event.(type) {
	case DealRegistered:
		// The log registers a deal once; should it not, the registration replaces the
		// stored record, which must then be known to exist.
		w.DealIDs = append(w.DealIDs, e.DealID)
		if w.regs == nil {
			w.regs = map[string]DealRegistered{}
		}
		w.regs[e.DealID] = e
	case DealApproved, DealOverridden, DealWithdrawn, DealExtended, DealExpired, DealLost, EngagementLogged, ServiceHandedOff:
		ids := []string{StreamOf(e)[len("deal-"):]}
		if o, ok := e.(DealOverridden); ok {
			ids = append(ids, o.Displaced...)
		}
		from := p.dealFrom(e, grace)
		for _, id := range ids {
			w.DealIDs = append(w.DealIDs, id)
			if r, ok := w.regs[id]; ok {
				for _, k := range dealIndexKeys(r) {
					w.InvoicesByIndex = append(w.InvoicesByIndex, IndexKey{k, from})
				}
			} else {
				w.InvoicesOfDeals = append(w.InvoicesOfDeals, DealFrom{id, from})
			}
		}
	case DealRejected, DealReturned, DealWon, DealConflicted:
		w.DealIDs = append(w.DealIDs, StreamOf(e)[len("deal-"):])
	case PartnerEnrolled:
		w.InvoicesByIndex = append(w.InvoicesByIndex, IndexKey{"p:" + e.PartnerID, Date{}})
	case PartnerGrandfathered:
		w.InvoicesByIndex = append(w.InvoicesByIndex, IndexKey{"p:" + e.PartnerID, Date{}})
	case TierChanged:
		w.InvoicesByIndex = append(w.InvoicesByIndex, IndexKey{"p:" + e.PartnerID, e.EffectiveOn})
	case PolicySet:
		w.grace = max(w.grace, maxGraceOf(e))
		w.InvoicesByIndex = append(w.InvoicesByIndex, IndexKey{"*", e.EffectiveFrom})
	case FieldRepAssigned:
		from := e.On
		if old, ok := p.reps[e.RepID]; ok && old.On.Before(from) {
			from = old.On
		}
		w.InvoicesByIndex = append(w.InvoicesByIndex, IndexKey{"*", from})
	case ExceptionAssigned:
		w.Invoices = append(w.Invoices, InvoiceRef{e.OEMID, e.InvoiceNumber})
		w.DealIDs = append(w.DealIDs, e.DealID)
	case ExceptionDismissed:
		w.Invoices = append(w.Invoices, InvoiceRef{e.OEMID, e.InvoiceNumber})
	case ExceptionReopened:
		w.Invoices = append(w.Invoices, InvoiceRef{e.OEMID, e.InvoiceNumber})
	case InvoiceReceived:
		key := invKey(e.OEMID, e.InvoiceNumber)
		w.DealIDs = append(w.DealIDs, p.manualDeals(key)...)
		// The first event of the document's own stream has no earlier revision to
		// supersede, hence no stored record (most invoices: no lookup).
		if env.StreamVersion != 1 || env.StreamID != InvoiceStream(e.OEMID, e.InvoiceNumber) {
			w.Invoices = append(w.Invoices, InvoiceRef{e.OEMID, e.InvoiceNumber})
		}
		if e.Kind == KindCreditMemo {
			w.Invoices = append(w.Invoices, InvoiceRef{e.OEMID, e.CreditMemoFor})
			return
		}
		for _, mk := range p.pending[key] {
			oem, number, _ := strings.Cut(mk, "\x00")
			w.Invoices = append(w.Invoices, InvoiceRef{oem, number})
		}
		if e.DealRegistrationID != "" {
			w.DealIDs = append(w.DealIDs, e.DealRegistrationID)
		}
		until := e.InvoiceDate.AddDays(grace)
		w.DealsByKey = append(w.DealsByKey, DayKey{CustomerKey(e.Customer), e.InvoiceDate, until})
		if dom := NormalizeDomain(e.Customer.Domain); dom != "" {
			w.DealsByDomain = append(w.DealsByDomain, DayKey{dom, e.InvoiceDate, until})
		}
	}
}

// WantsMore returns the stored records the invoices loaded for w need to be attributed
// again: the registrations that may protect or claim their lines.
func (p *Program) WantsMore(w Wants) Wants {
	var more Wants
	if p.dirty == nil {
		return more
	}
	grace := max(p.maxGrace(), w.grace)
	for _, k := range sortedKeys(p.dirty.loadedInvoices) {
		rec := p.invoices[k]
		if rec == nil || rec.memoFor != "" {
			continue
		}
		if rec.regID != "" {
			more.DealIDs = append(more.DealIDs, rec.regID)
		}
		more.DealIDs = append(more.DealIDs, p.manualDeals(k)...)
		until := rec.date.AddDays(grace)
		more.DealsByKey = append(more.DealsByKey, DayKey{rec.custKey, rec.date, until})
		if rec.domain != "" {
			more.DealsByDomain = append(more.DealsByDomain, DayKey{rec.domain, rec.date, until})
		}
	}
	return more
}

// Load adds stored records to the program's working set. A record the program already
// holds is kept as it is (it is at least as new as the stored one).
func (p *Program) Load(s Stored) error {
	var ld, li, le map[string]struct{}
	if p.dirty != nil {
		ld, li, le = p.dirty.loadedDeals, p.dirty.loadedInvoices, p.dirty.loadedExceptions
	}
	for _, r := range s.Deals {
		if p.deals[r.ID] != nil {
			continue
		}
		loaded(ld, r.ID)
		d, err := decodeDeal(r.Data)
		if err != nil {
			return fmt.Errorf("domain: load deal %s: %w", r.ID, err)
		}
		p.indexDeal(d)
	}
	for _, r := range s.Invoices {
		key := invKey(r.OEMID, r.Number)
		if p.invoices[key] != nil {
			continue
		}
		loaded(li, key)
		rec, err := p.decodeInvoice(r.Data)
		if err != nil {
			return fmt.Errorf("domain: load invoice %s %s: %w", r.OEMID, r.Number, err)
		}
		p.invoices[key] = rec
		p.indexInvoice(key, rec)
	}
	for _, r := range s.Exceptions {
		key := excKey(r.OEMID, r.Number, r.Line)
		if p.exceptions[key] != nil {
			continue
		}
		loaded(le, key)
		var j exceptionJSON
		if err := json.Unmarshal(r.Data, &j); err != nil {
			return fmt.Errorf("domain: load exception %s %s line %d: %w", r.OEMID, r.Number, r.Line, err)
		}
		p.exceptions[key] = &excRec{Exception: j.Exception}
	}
	return nil
}

// indexDeal adds a deal to the working set and its lookup indexes.
func (p *Program) indexDeal(d *dealRec) {
	p.deals[d.DealID] = d
	p.byKey[d.CustomerKey] = append(p.byKey[d.CustomerKey], d.DealID)
	if dom := NormalizeDomain(d.Customer.Domain); dom != "" {
		p.byDomain[dom] = append(p.byDomain[dom], d.DealID)
	}
}

// Evict returns the records that changed since the last Evict (sorted, so the writes
// are deterministic) and drops the working set. It fails for a program from NewProgram.
func (p *Program) Evict() (Stored, error) {
	var out Stored
	if p.dirty == nil {
		return out, fmt.Errorf("domain: evict: the program keeps everything in memory (use NewSpillingProgram)")
	}
	for _, id := range sortedKeys(p.dirty.deals) {
		d := p.deals[id]
		if d == nil {
			continue
		}
		data, err := json.Marshal(encodeDeal(d))
		if err != nil {
			return Stored{}, fmt.Errorf("domain: evict deal %s: %w", id, err)
		}
		_, was := p.dirty.loadedDeals[id]
		sd := StoredDeal{New: !was, ID: id, CustomerKey: d.CustomerKey, Domain: NormalizeDomain(d.Customer.Domain), Data: data}
		if d.approvalID != "" {
			sd.Approved, sd.ApprovedOn, sd.ExpiresOn = true, d.ApprovedOn, d.ExpiresOn
		}
		out.Deals = append(out.Deals, sd)
	}
	for _, k := range sortedKeys(p.dirty.invoices) {
		rec := p.invoices[k]
		if rec == nil {
			continue
		}
		data, err := json.Marshal(encodeInvoice(rec))
		if err != nil {
			return Stored{}, fmt.Errorf("domain: evict invoice %q: %w", k, err)
		}
		oem, number, _ := strings.Cut(k, "\x00")
		_, was := p.dirty.loadedInvoices[k]
		si := StoredInvoice{New: !was, InvoiceRef: InvoiceRef{oem, number}, Keys: invoiceIndexKeys(rec), Data: data}
		if rec.memoFor == "" {
			si.Date = rec.date
		}
		out.Invoices = append(out.Invoices, si)
	}
	for _, k := range sortedKeys(p.dirty.exceptions) {
		ref, err := parseExcKey(k)
		if err != nil {
			return Stored{}, err
		}
		_, was := p.dirty.loadedExceptions[k]
		e := p.exceptions[k]
		if e == nil {
			if was {
				out.Closed = append(out.Closed, ref)
			}
			continue
		}
		data, err := json.Marshal(exceptionJSON{Exception: e.Exception})
		if err != nil {
			return Stored{}, fmt.Errorf("domain: evict exception %q: %w", k, err)
		}
		out.Exceptions = append(out.Exceptions, StoredException{New: !was, ExceptionRef: ref, Data: data})
	}
	clear(p.deals)
	clear(p.byKey)
	clear(p.byDomain)
	clear(p.invoices)
	clear(p.exceptions)
	clear(p.lineIdx)
	clear(p.strs)
	p.dirty = newDirtySet()
	return out, nil
}

func parseExcKey(k string) (ExceptionRef, error) {
	parts := strings.Split(k, "\x00")
	if len(parts) != 3 {
		return ExceptionRef{}, fmt.Errorf("domain: exception key %q", k)
	}
	n, err := strconv.Atoi(parts[2])
	if err != nil {
		return ExceptionRef{}, fmt.Errorf("domain: exception key %q: %w", k, err)
	}
	return ExceptionRef{InvoiceRef{parts[0], parts[1]}, n}, nil
}

// The stored forms. Field names are short: there is one record per invoice.

type dealJSON struct {
	State         DealState         `json:"s"`
	RegID         string            `json:"r"`
	ApprovalID    string            `json:"a,omitempty"`
	ApprovalSeq   int64             `json:"q,omitempty"`
	EndedOn       Date              `json:"e"`
	DisplacedBy   string            `json:"x,omitempty"`
	EngagementIDs []string          `json:"g,omitempty"`
	HandoffIDs    map[string]string `json:"h,omitempty"`
}

func encodeDeal(d *dealRec) dealJSON {
	return dealJSON{State: d.DealState, RegID: d.regID, ApprovalID: d.approvalID, ApprovalSeq: d.approvalSeq, EndedOn: d.endedOn,
		DisplacedBy: d.displacedBy, EngagementIDs: d.engagementIDs, HandoffIDs: d.handoffIDs}
}

func decodeDeal(data []byte) (*dealRec, error) {
	var j dealJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, err
	}
	return &dealRec{DealState: j.State, regID: j.RegID, approvalID: j.ApprovalID, approvalSeq: j.ApprovalSeq, endedOn: j.EndedOn,
		displacedBy: j.DisplacedBy, engagementIDs: j.EngagementIDs, handoffIDs: j.HandoffIDs}, nil
}

type invoiceJSON struct {
	Revision int        `json:"r"`
	EventID  string     `json:"e"`
	OEMID    string     `json:"o,omitempty"`
	Number   string     `json:"n,omitempty"`
	Date     Date       `json:"d"`
	Currency string     `json:"c,omitempty"`
	Customer string     `json:"u,omitempty"`
	CustKey  string     `json:"k,omitempty"`
	Domain   string     `json:"dm,omitempty"`
	RegID    string     `json:"g,omitempty"`
	MemoFor  string     `json:"f,omitempty"`
	Lines    []lineJSON `json:"l,omitempty"`
}

type lineJSON struct {
	Line    int          `json:"n"`
	Segment Segment      `json:"s"`
	Amount  int64        `json:"a"`
	Memos   []memoJSON   `json:"m,omitempty"`
	Kind    outcome      `json:"k"`
	Policy  int32        `json:"p"`
	Partner *partnerJSON `json:"c,omitempty"`
	Manual  *manualRec   `json:"x,omitempty"`
}

type memoJSON struct {
	Number   string  `json:"n"`
	Amount   int64   `json:"a"`
	Segment  Segment `json:"s,omitempty"`
	Date     Date    `json:"d"`
	EventID  string  `json:"e"`
	Revision int     `json:"r"`
}

type partnerJSON struct {
	DealID     string    `json:"d"`
	PartnerID  string    `json:"p"`
	RegID      string    `json:"r"`
	ApprovalID string    `json:"a"`
	Matched    string    `json:"m"`
	Claimed    bool      `json:"c,omitempty"`
	Grace      int32     `json:"g,omitempty"`
	EngIDs     []string  `json:"e,omitempty"`
	Tier       Tier      `json:"t,omitempty"`
	TierID     string    `json:"ti,omitempty"`
	BPS        int64     `json:"b,omitempty"`
	Reps       []repJSON `json:"f,omitempty"`
	To         string    `json:"to,omitempty"`
	HandoffID  string    `json:"h,omitempty"`
}

type repJSON struct {
	Rep FieldRepAssigned `json:"r"`
	ID  string           `json:"i"`
}

func encodeInvoice(r *invoiceRec) invoiceJSON {
	j := invoiceJSON{Revision: r.revision, EventID: r.eventID, OEMID: r.oemID, Number: r.number, Date: r.date,
		Currency: r.currency, Customer: r.customer, CustKey: r.custKey, Domain: r.domain, RegID: r.regID, MemoFor: r.memoFor}
	for _, l := range r.lines {
		lj := lineJSON{Line: l.line, Segment: l.segment, Amount: l.amount, Kind: l.attr.kind, Policy: l.attr.pol, Manual: l.attr.m}
		if l.memos != nil {
			for _, m := range *l.memos {
				lj.Memos = append(lj.Memos, memoJSON{m.number, m.amount, m.segment, m.date, m.eventID, m.revision})
			}
		}
		if a := l.attr.p; a != nil {
			pj := &partnerJSON{DealID: a.dealID, PartnerID: a.partnerID, RegID: a.regID, ApprovalID: a.approvalID,
				Matched: a.matched, Claimed: a.claimed, Grace: a.grace, EngIDs: a.engIDs, Tier: a.tier, TierID: a.tierID,
				BPS: a.bps, To: a.to, HandoffID: a.handoffID}
			for _, s := range a.reps {
				pj.Reps = append(pj.Reps, repJSON{s.rep, s.id})
			}
			lj.Partner = pj
		}
		j.Lines = append(j.Lines, lj)
	}
	return j
}

func (p *Program) decodeInvoice(data []byte) (*invoiceRec, error) {
	var j invoiceJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, err
	}
	r := &invoiceRec{revision: j.Revision, eventID: j.EventID, oemID: p.intern(j.OEMID), number: j.Number, date: j.Date,
		currency: p.intern(j.Currency), customer: j.Customer, custKey: p.intern(j.CustKey), domain: p.intern(j.Domain),
		regID: j.RegID, memoFor: j.MemoFor}
	if j.Lines != nil {
		r.lines = make([]lineRec, len(j.Lines))
	}
	for i, lj := range j.Lines {
		if lj.Policy >= int32(len(p.policies)) {
			return nil, fmt.Errorf("line %d: policy index %d of %d", lj.Line, lj.Policy, len(p.policies))
		}
		l := lineRec{line: lj.Line, segment: internSegment(lj.Segment), amount: lj.Amount, attr: lineAttr{kind: lj.Kind, pol: lj.Policy, m: lj.Manual}}
		if lj.Memos != nil {
			ms := make([]memoReturn, len(lj.Memos))
			for k, m := range lj.Memos {
				ms[k] = memoReturn{m.Number, m.Amount, internSegment(m.Segment), m.Date, m.EventID, m.Revision}
			}
			l.memos = &ms
		}
		if pj := lj.Partner; pj != nil {
			a := &partnerAttr{dealID: pj.DealID, partnerID: pj.PartnerID, regID: pj.RegID, approvalID: pj.ApprovalID,
				matched: pj.Matched, claimed: pj.Claimed, grace: pj.Grace, engIDs: pj.EngIDs, tier: pj.Tier, tierID: pj.TierID,
				bps: pj.BPS, to: pj.To, handoffID: pj.HandoffID}
			for _, s := range pj.Reps {
				a.reps = append(a.reps, repSnap{s.Rep, s.ID})
			}
			l.attr.p = a
		}
		r.lines[i] = l
	}
	return r, nil
}

type exceptionJSON struct {
	Exception Exception `json:"x"`
}

// coreJSON is the program without its working set.
type coreJSON struct {
	Position int64                        `json:"position"`
	Seq      int64                        `json:"seq"`
	Pending  map[string][]string          `json:"pending,omitempty"`
	Manual   map[string]map[int]manualRec `json:"manual,omitempty"`
	Approved map[string][]Quarter         `json:"approved,omitempty"`
	Partners []partnerCoreJSON            `json:"partners"`
	Geos     map[string]GeoState          `json:"geos"`
	Policies []policyJSON                 `json:"policies"`
	Closed   []Quarter                    `json:"closed"`
	Reps     map[string]FieldRepAssigned  `json:"reps"`
	RepIDs   map[string]string            `json:"rep_ids"`
	Credited []creditedJSON               `json:"credited"`
	Mix      []Mix                        `json:"mix"`
}

type partnerCoreJSON struct {
	ID      string       `json:"id"`
	State   PartnerState `json:"state"`
	TierIDs []tierJSON   `json:"tier_ids"`
}

type tierJSON struct {
	Span TierSpan `json:"span"`
	ID   string   `json:"id"`
}

type policyJSON struct {
	Policy Policy `json:"policy"`
	ID     string `json:"id"`
}

type creditedJSON struct {
	PartnerID string  `json:"partner_id"`
	Quarter   Quarter `json:"quarter"`
	Currency  string  `json:"currency"`
	Amount    int64   `json:"amount"`
}

// MarshalCore encodes the program's state without its working set (the records Evict
// hands back): partners, seats, policies, closed quarters, field reps, credited totals,
// revenue mix and position. The encoding is deterministic.
func (p *Program) MarshalCore() ([]byte, error) {
	c := coreJSON{Position: p.position, Seq: p.seq, Pending: p.pending, Manual: p.manual, Geos: p.geos, Reps: p.reps, RepIDs: p.repIDs}
	for _, id := range sortedKeys(p.partners) {
		r := p.partners[id]
		pc := partnerCoreJSON{ID: id, State: r.PartnerState}
		for _, t := range r.tierIDs {
			pc.TierIDs = append(pc.TierIDs, tierJSON{t.span, t.id})
		}
		c.Partners = append(c.Partners, pc)
	}
	for _, r := range p.policies {
		c.Policies = append(c.Policies, policyJSON{r.Policy, r.id})
	}
	for q := range p.closed {
		c.Closed = append(c.Closed, q)
	}
	for id, qs := range p.approved {
		if c.Approved == nil {
			c.Approved = map[string][]Quarter{}
		}
		for q := range qs {
			c.Approved[id] = append(c.Approved[id], q)
		}
		sort.Slice(c.Approved[id], func(i, j int) bool { return c.Approved[id][i].Compare(c.Approved[id][j]) < 0 })
	}
	sort.Slice(c.Closed, func(i, j int) bool { return c.Closed[i].Compare(c.Closed[j]) < 0 })
	for k, v := range p.credited {
		c.Credited = append(c.Credited, creditedJSON{k.partner, k.quarter, k.currency, v})
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
	data, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("domain: marshal program: %w", err)
	}
	return data, nil
}

// UnmarshalProgram restores a spilling program from MarshalCore's encoding; its working
// set is empty.
func UnmarshalProgram(data []byte) (*Program, error) {
	var c coreJSON
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("domain: unmarshal program: %w", err)
	}
	p := NewSpillingProgram()
	p.position, p.seq = c.Position, c.Seq
	if c.Pending != nil {
		p.pending = c.Pending
	}
	if c.Manual != nil {
		p.manual = c.Manual
	}
	for id, qs := range c.Approved {
		p.approved[id] = map[Quarter]bool{}
		for _, q := range qs {
			p.approved[id][q] = true
		}
	}
	for _, pc := range c.Partners {
		r := &partnerRec{PartnerState: pc.State}
		for _, t := range pc.TierIDs {
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
		m := m
		p.mix[mixKey{m.Quarter, m.Currency}] = &m
	}
	return p, nil
}

// manualDeals returns the deals the manual decisions on an invoice's lines assign them to
// (kept in the core: one entry per line worked by hand), in line order.
func (p *Program) manualDeals(key string) []string {
	var ids []string
	for _, line := range sortedKeys(p.manual[key]) {
		if m := p.manual[key][line]; m.DealID != "" {
			ids = append(ids, m.DealID)
		}
	}
	return ids
}
