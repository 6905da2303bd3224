package domain

import (
	"fmt"
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
// revenue mix, approved statements and the manual decisions of the exception
// queue, one per line worked by hand) grows with partners, quarters and the
// analysts' work, not with the log; it is saved
// whole through Core and restored with RestoreProgram.
//
// A program from NewProgram never evicts anything and needs no store.
//
// The records (records.go) are the fold's state; how they are stored (their encoding)
// is the attribution projection's. A change to them, or to what a fold reads, must come
// with a new projections/attribution Version, so that runners rebuild tables written by
// the old code instead of loading them.

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
	Record      DealRecord
}

// StoredInvoice is an invoice's or credit memo's record (its latest revision) with the
// columns a re-attribution finds it by.
type StoredInvoice struct {
	New bool // from Evict: the store did not have it (it was not loaded)
	InvoiceRef
	Keys   []string // index keys (customer key, domain, registration, credited partners); none for a credit memo
	Date   Date     // the invoice date; zero for a credit memo
	Record InvoiceRecord
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
	Exception Exception
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
	case DealRejected, DealReturned, DealWon, DealResubmitted, DealConflicted:
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
		p.indexDeal(dealFromRecord(r.Record))
	}
	for _, r := range s.Invoices {
		key := invKey(r.OEMID, r.Number)
		if p.invoices[key] != nil {
			continue
		}
		loaded(li, key)
		rec, err := p.invoiceFromRecord(r.Record)
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
		p.exceptions[key] = &excRec{Exception: r.Exception}
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
	out.Deals = make([]StoredDeal, 0, len(p.dirty.deals))
	out.Invoices = make([]StoredInvoice, 0, len(p.dirty.invoices))
	out.Exceptions = make([]StoredException, 0, len(p.dirty.exceptions))
	for _, id := range sortedKeys(p.dirty.deals) {
		d := p.deals[id]
		if d == nil {
			continue
		}
		_, was := p.dirty.loadedDeals[id]
		sd := StoredDeal{New: !was, ID: id, CustomerKey: d.CustomerKey, Domain: NormalizeDomain(d.Customer.Domain), Record: dealRecord(d)}
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
		oem, number, _ := strings.Cut(k, "\x00")
		_, was := p.dirty.loadedInvoices[k]
		si := StoredInvoice{New: !was, InvoiceRef: InvoiceRef{oem, number}, Keys: invoiceIndexKeys(rec), Record: invoiceRecord(rec)}
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
		out.Exceptions = append(out.Exceptions, StoredException{New: !was, ExceptionRef: ref, Exception: e.Exception})
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
