package domain

// Overlay holds the records one Evict handed back while their write may not have
// reached the store yet (a store that writes a batch while the next one is folded).
// Loading the next batch, the caller ignores the store's copies of the records the
// overlay covers (they may be missing or older) and loads the overlay's instead: the
// store's answer to ForStore(w), less what the overlay covers, plus the overlay's
// answer to w, is the answer the store would give to w once the write is in.
//
// A nil *Overlay covers nothing and answers nothing.
type Overlay struct {
	s          Stored
	deals      map[string]*StoredDeal
	invoices   map[InvoiceRef]*StoredInvoice
	exceptions map[ExceptionRef]*StoredException
	ofInvoice  map[InvoiceRef][]*StoredException
	closed     map[ExceptionRef]struct{}
}

// NewOverlay returns the overlay of s, a set of records from Evict (it keeps s's
// records; the caller must not change them).
func NewOverlay(s Stored) *Overlay {
	o := &Overlay{
		s:     s,
		deals: make(map[string]*StoredDeal, len(s.Deals)), invoices: make(map[InvoiceRef]*StoredInvoice, len(s.Invoices)),
		exceptions: make(map[ExceptionRef]*StoredException, len(s.Exceptions)),
		ofInvoice:  map[InvoiceRef][]*StoredException{}, closed: make(map[ExceptionRef]struct{}, len(s.Closed)),
	}
	for i := range s.Deals {
		o.deals[s.Deals[i].ID] = &s.Deals[i]
	}
	for i := range s.Invoices {
		o.invoices[s.Invoices[i].InvoiceRef] = &s.Invoices[i]
	}
	for i := range s.Exceptions {
		e := &s.Exceptions[i]
		o.exceptions[e.ExceptionRef] = e
		o.ofInvoice[e.InvoiceRef] = append(o.ofInvoice[e.InvoiceRef], e)
	}
	for _, r := range s.Closed {
		o.closed[r] = struct{}{}
	}
	return o
}

// CoversDeal reports whether the store's copy of deal id is to be ignored.
func (o *Overlay) CoversDeal(id string) bool {
	if o == nil {
		return false
	}
	_, ok := o.deals[id]
	return ok
}

// CoversInvoice reports whether the store's copy of invoice r is to be ignored.
func (o *Overlay) CoversInvoice(r InvoiceRef) bool {
	if o == nil {
		return false
	}
	_, ok := o.invoices[r]
	return ok
}

// CoversException reports whether the store's copy of exception r is to be ignored
// (the overlay holds it, or it is no longer open).
func (o *Overlay) CoversException(r ExceptionRef) bool {
	if o == nil {
		return false
	}
	_, ok := o.exceptions[r]
	_, closed := o.closed[r]
	return ok || closed
}

// ForStore returns w as the store is to be asked: the invoices of a deal the overlay
// holds are asked for by the deal's index keys (the store finds a deal's invoices
// through its own copy of the deal, which may be missing or older).
func (o *Overlay) ForStore(w Wants) Wants {
	if o == nil {
		return w
	}
	return w.IndexedBy(func(id string) (StoredDeal, bool) {
		sd, ok := o.deals[id]
		if !ok {
			return StoredDeal{}, false
		}
		return *sd, true
	})
}

// IndexedBy returns w with the invoices of each deal find knows (InvoicesOfDeals)
// asked for by that deal's index keys instead (InvoicesByIndex, from the deal's
// stored columns: its customer key, id and normalised domain); the deals find does
// not know stay in InvoicesOfDeals. A store that looked the deals up itself can ask
// for their invoices in one index lookup.
func (w Wants) IndexedBy(find func(id string) (StoredDeal, bool)) Wants {
	if len(w.InvoicesOfDeals) == 0 {
		return w
	}
	out := w
	out.InvoicesOfDeals, out.InvoicesByIndex = nil, append([]IndexKey(nil), w.InvoicesByIndex...)
	for _, d := range w.InvoicesOfDeals {
		sd, ok := find(d.ID)
		if !ok {
			out.InvoicesOfDeals = append(out.InvoicesOfDeals, d)
			continue
		}
		for _, k := range storedDealKeys(d.ID, sd.CustomerKey, sd.Domain) {
			out.InvoicesByIndex = append(out.InvoicesByIndex, IndexKey{k, d.From})
		}
	}
	return out
}

// storedDealKeys returns the invoice index keys of a deal (dealIndexKeys of its
// registration) from its stored columns.
func storedDealKeys(id, customerKey, domain string) []string {
	keys := []string{"k:" + customerKey, "r:" + id}
	if domain != "" {
		keys = append(keys, "d:"+domain)
	}
	return keys
}

// Deals returns the overlay's deals w names (by id, customer key or domain).
func (o *Overlay) Deals(w Wants) []StoredDeal {
	if o == nil || len(o.deals) == 0 {
		return nil
	}
	ids := make(map[string]struct{}, len(w.DealIDs))
	for _, id := range w.DealIDs {
		ids[id] = struct{}{}
	}
	var out []StoredDeal
	for i := range o.s.Deals {
		d := &o.s.Deals[i]
		if _, ok := ids[d.ID]; ok || protectsOn(d, d.CustomerKey, w.DealsByKey) || (d.Domain != "" && protectsOn(d, d.Domain, w.DealsByDomain)) {
			out = append(out, *d)
		}
	}
	return out
}

// protectsOn reports whether the approved deal d, found under key, matches a DayKey
// of ks: approved on or before its Until (its Day when later) and expiring on or
// after its Day.
func protectsOn(d *StoredDeal, key string, ks []DayKey) bool {
	if !d.Approved {
		return false
	}
	for _, k := range ks {
		until := k.Until
		if until.Before(k.Day) {
			until = k.Day
		}
		if k.Key == key && !d.ApprovedOn.After(until) && !d.ExpiresOn.Before(k.Day) {
			return true
		}
	}
	return false
}

// OverlayInvoices returns the overlay's invoices w names: by reference, by index key,
// or as invoices of a deal (through the overlay's copy of the deal, else the program's:
// load the deals w names before).
func (p *Program) OverlayInvoices(o *Overlay, w Wants) []StoredInvoice {
	if o == nil || len(o.invoices) == 0 {
		return nil
	}
	refs := make(map[InvoiceRef]struct{}, len(w.Invoices))
	for _, r := range w.Invoices {
		refs[r] = struct{}{}
	}
	index := append([]IndexKey(nil), w.InvoicesByIndex...)
	for _, d := range w.InvoicesOfDeals {
		var keys []string
		if sd, ok := o.deals[d.ID]; ok {
			keys = storedDealKeys(sd.ID, sd.CustomerKey, sd.Domain)
		} else if rec := p.deals[d.ID]; rec != nil {
			keys = storedDealKeys(rec.DealID, rec.CustomerKey, NormalizeDomain(rec.Customer.Domain))
		}
		for _, k := range keys {
			index = append(index, IndexKey{k, d.From})
		}
	}
	var out []StoredInvoice
	for i := range o.s.Invoices {
		v := &o.s.Invoices[i]
		if _, ok := refs[v.InvoiceRef]; ok || indexed(v, index) {
			out = append(out, *v)
		}
	}
	return out
}

// indexed reports whether a dated invoice is under one of the index keys, on or after
// its date.
func indexed(v *StoredInvoice, index []IndexKey) bool {
	if v.Date.IsZero() {
		return false
	}
	for _, k := range index {
		if v.Date.Before(k.From) {
			continue
		}
		if k.Key == "*" || containsString(v.Keys, k.Key) {
			return true
		}
	}
	return false
}

// Exceptions returns the overlay's open exceptions of the invoices refs.
func (o *Overlay) Exceptions(refs []InvoiceRef) []StoredException {
	if o == nil || len(o.exceptions) == 0 {
		return nil
	}
	seen := make(map[InvoiceRef]struct{}, len(refs))
	var out []StoredException
	for _, r := range refs {
		if _, ok := seen[r]; ok {
			continue
		}
		seen[r] = struct{}{}
		for _, e := range o.ofInvoice[r] {
			out = append(out, *e)
		}
	}
	return out
}
