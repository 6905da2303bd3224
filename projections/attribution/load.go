package attribution

import (
	"context"
	"fmt"
	"sort"

	"dealcredit/domain"

	"github.com/jackc/pgx/v5"
)

// loader reads the stored records a batch wants into the program, through tx.
// The records of the overlay (the batch before, whose write may still be in
// flight) come from the overlay, never from the tables, which may hold older
// copies of them or none.
type loader struct {
	tx      pgx.Tx
	program *domain.Program
	overlay *domain.Overlay
	one     []domain.StoredInvoice // of length 1: Load copies the invoice, one slice serves every row
}

// load reads the stored records w names: the deals, then the invoices (by
// reference, then those a re-attribution visits, which may be found through
// those deals), then the open exceptions of the invoices found. Each record is
// handed to the program as it arrives, so decoding overlaps the query.
func (l loader) load(ctx context.Context, w domain.Wants) error {
	stored, err := l.deals(ctx, w)
	if err != nil {
		return err
	}
	found, err := l.invoices(ctx, w.Invoices)
	if err != nil {
		return err
	}
	// The invoices of a deal are asked for by its index keys: the overlay's copy of
	// the deal when it holds one, else the store's, which the deal lookup just read
	// (it looks up every deal of InvoicesOfDeals by id); a deal neither knows has none.
	indexed, err := l.indexed(ctx, l.overlay.ForStore(w).IndexedBy(func(id string) (domain.StoredDeal, bool) {
		d, ok := stored[id]
		return domain.StoredDeal{ID: id, CustomerKey: d.customerKey, Domain: d.domain}, ok
	}).InvoicesByIndex)
	if err != nil {
		return err
	}
	found = append(found, indexed...)
	ov := l.program.OverlayInvoices(l.overlay, w)
	if err := l.program.Load(domain.Stored{Invoices: ov}); err != nil {
		return err
	}
	for _, v := range ov {
		found = append(found, v.InvoiceRef)
	}
	if len(found) == 0 {
		return nil
	}
	if err := l.exceptions(ctx, found); err != nil {
		return err
	}
	return l.program.Load(domain.Stored{Exceptions: l.overlay.Exceptions(found)})
}

// dealIndex is a stored deal's index columns.
type dealIndex struct{ customerKey, domain string }

// deals loads the deals w names by id, customer key or domain and returns the
// index columns of every stored deal it found, by id.
func (l loader) deals(ctx context.Context, w domain.Wants) (map[string]dealIndex, error) {
	if len(w.DealIDs) == 0 && len(w.DealsByKey) == 0 && len(w.DealsByDomain) == 0 {
		return nil, nil
	}
	byKey, byKeyDay, byKeyUntil := dayKeys(w.DealsByKey)
	byDom, byDomDay, byDomUntil := dayKeys(w.DealsByDomain)
	// Each branch reads the deals it finds through its index (a deal found by its
	// customer key and its domain comes up twice, and is decoded once): two index
	// probes per invoice, where a deduplicating IN (...) over the branches added a
	// third, on the primary key.
	rows, err := l.tx.Query(ctx, `
		SELECT deal_id, customer_key, domain, data FROM state_deals WHERE deal_id = ANY($1::text[])
		UNION ALL
		SELECT d.deal_id, d.customer_key, d.domain, d.data FROM unnest($2::text[], $3::text[], $4::text[]) AS w(k, day, until)
			JOIN state_deals d ON d.customer_key = w.k AND d.approved_on IS NOT NULL AND d.approved_on <= w.until AND d.expires_on >= w.day
		UNION ALL
		SELECT d.deal_id, d.customer_key, d.domain, d.data FROM unnest($5::text[], $6::text[], $7::text[]) AS w(k, day, until)
			JOIN state_deals d ON d.domain = w.k AND d.domain <> '' AND d.approved_on IS NOT NULL AND d.approved_on <= w.until AND d.expires_on >= w.day`,
		unique(dealIDs(w)), byKey, byKeyDay, byKeyUntil, byDom, byDomDay, byDomUntil)
	if err != nil {
		return nil, fmt.Errorf("attribution: load deals: %w", err)
	}
	found := map[string]dealIndex{}
	var id, key, dom string
	var data []byte
	one := make([]domain.StoredDeal, 1) // Load copies the deal: one slice serves every row
	if _, err := pgx.ForEachRow(rows, []any{&id, &key, &dom, &data}, func() error {
		if _, dup := found[id]; dup {
			return nil
		}
		found[id] = dealIndex{key, dom}
		if l.overlay.CoversDeal(id) {
			return nil
		}
		one[0] = domain.StoredDeal{ID: id}
		if err := decodeRecord(data, &one[0].Record); err != nil {
			return fmt.Errorf("deal %s: %w", id, err)
		}
		return l.program.Load(domain.Stored{Deals: one})
	}); err != nil {
		return nil, fmt.Errorf("attribution: load deals: %w", err)
	}
	return found, l.program.Load(domain.Stored{Deals: l.overlay.Deals(w)})
}

// dealIDs returns the deals w names by id: DealIDs and the deals of
// InvoicesOfDeals, whose index keys are read from the deals found.
func dealIDs(w domain.Wants) []string {
	ids := w.DealIDs
	for _, d := range w.InvoicesOfDeals {
		ids = append(ids, d.ID)
	}
	return ids
}

// exceptions loads the stored open exceptions of the invoices refs.
func (l loader) exceptions(ctx context.Context, refs []domain.InvoiceRef) error {
	oems, numbers := invoiceRefs(refs)
	rows, err := l.tx.Query(ctx, `
		SELECT e.oem_id, e.number, e.line, e.data FROM unnest($1::text[], $2::text[]) AS w(oem, num)
			JOIN state_exceptions e ON e.oem_id = w.oem AND e.number = w.num`, oems, numbers)
	if err != nil {
		return fmt.Errorf("attribution: load exceptions: %w", err)
	}
	var ref domain.ExceptionRef
	var data []byte
	if _, err := pgx.ForEachRow(rows, []any{&ref.OEMID, &ref.Number, &ref.Line, &data}, func() error {
		if l.overlay.CoversException(ref) {
			return nil
		}
		e := domain.StoredException{ExceptionRef: ref}
		if err := decodeRecord(data, &e.Exception); err != nil {
			return fmt.Errorf("%s %s line %d: %w", ref.OEMID, ref.Number, ref.Line, err)
		}
		return l.program.Load(domain.Stored{Exceptions: []domain.StoredException{e}})
	}); err != nil {
		return fmt.Errorf("attribution: load exceptions: %w", err)
	}
	return nil
}

// indexed loads the stored invoices a re-attribution visits (under one of the
// index keys, dated on or after its From) and returns the refs it loaded: one
// probe of the keys index per key for the invoices' references and dates, the
// dates checked here (an index condition on the date made the planner scan the
// date index for each key), then the invoices found by primary key; an "every
// invoice" key is one scan by date.
func (l loader) indexed(ctx context.Context, index []domain.IndexKey) ([]domain.InvoiceRef, error) {
	if len(index) == 0 {
		return nil, nil
	}
	since := map[string]string{} // the earliest date of each key
	var keys []string
	var all *string // the earliest date of an "every invoice" key
	for _, k := range index {
		from := dateText(k.From)
		if k.Key == "*" {
			if all == nil || from < *all {
				all = &from
			}
			continue
		}
		if s, ok := since[k.Key]; !ok || from < s {
			if !ok {
				keys = append(keys, k.Key)
			}
			since[k.Key] = from
		}
	}
	var found []domain.InvoiceRef
	if all != nil {
		rows, err := l.tx.Query(ctx, `SELECT oem_id, number, data FROM state_invoices WHERE invoice_date <> '' AND invoice_date >= $1`, *all)
		if err != nil {
			return nil, fmt.Errorf("attribution: load invoices to re-attribute: %w", err)
		}
		var ref domain.InvoiceRef
		var data []byte
		if _, err := pgx.ForEachRow(rows, []any{&ref.OEMID, &ref.Number, &data}, func() error {
			return l.invoice(ref, data, &found)
		}); err != nil {
			return nil, fmt.Errorf("attribution: load invoices to re-attribute: %w", err)
		}
	}
	refs, err := l.underKeys(ctx, keys, since, all)
	if err != nil {
		return nil, err
	}
	more, err := l.invoices(ctx, refs)
	return append(found, more...), err
}

// underKeys returns the invoices under one of keys, dated on or after the
// earliest date in since of the keys they are under, that the overlay does not
// cover and an "every invoice" key dated all (nil: none) has not loaded
// already. It is one scan of the keys index for all of them: each scan of a
// GIN index reads its pending list whole, so a scan per key cost that many.
func (l loader) underKeys(ctx context.Context, keys []string, since map[string]string, all *string) ([]domain.InvoiceRef, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	rows, err := l.tx.Query(ctx, `SELECT keys, oem_id, number, invoice_date FROM state_invoices WHERE keys && $1::text[]`, keys)
	if err != nil {
		return nil, fmt.Errorf("attribution: find invoices to re-attribute: %w", err)
	}
	var refs []domain.InvoiceRef
	var under []string
	var date string
	var ref domain.InvoiceRef
	if _, err := pgx.ForEachRow(rows, []any{&under, &ref.OEMID, &ref.Number, &date}, func() error {
		if date == "" || all != nil && date >= *all || l.overlay.CoversInvoice(ref) || !dueUnder(under, since, date) {
			return nil
		}
		refs = append(refs, ref)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("attribution: find invoices to re-attribute: %w", err)
	}
	return refs, nil
}

// dueUnder reports whether an invoice dated date, under the index keys under,
// is on or after the date in since of one of them.
func dueUnder(under []string, since map[string]string, date string) bool {
	for _, k := range under {
		if from, ok := since[k]; ok && date >= from {
			return true
		}
	}
	return false
}

// invoices loads the stored invoices and credit memos refs names (one index
// scan per OEM) and returns the refs it loaded.
func (l loader) invoices(ctx context.Context, refs []domain.InvoiceRef) ([]domain.InvoiceRef, error) {
	byOEM := map[string][]string{}
	var oems []string
	var found []domain.InvoiceRef
	for _, r := range refs {
		if _, ok := byOEM[r.OEMID]; !ok {
			oems = append(oems, r.OEMID)
		}
		byOEM[r.OEMID] = append(byOEM[r.OEMID], r.Number)
	}
	sort.Strings(oems)
	for _, oem := range oems {
		rows, err := l.tx.Query(ctx, `SELECT number, data FROM state_invoices WHERE oem_id = $1 AND number = ANY($2::text[])`,
			oem, unique(byOEM[oem]))
		if err != nil {
			return found, fmt.Errorf("attribution: load invoices of %s: %w", oem, err)
		}
		var number string
		var data []byte
		if _, err := pgx.ForEachRow(rows, []any{&number, &data}, func() error {
			return l.invoice(domain.InvoiceRef{OEMID: oem, Number: number}, data, &found)
		}); err != nil {
			return found, fmt.Errorf("attribution: load invoices of %s: %w", oem, err)
		}
	}
	return found, nil
}

// invoice decodes a stored invoice, hands it to the program and adds its ref
// to found, unless the overlay covers it.
func (l loader) invoice(ref domain.InvoiceRef, data []byte, found *[]domain.InvoiceRef) error {
	if l.overlay.CoversInvoice(ref) {
		return nil
	}
	l.one[0] = domain.StoredInvoice{InvoiceRef: ref}
	if err := decodeRecord(data, &l.one[0].Record); err != nil {
		return fmt.Errorf("invoice %s %s: %w", ref.OEMID, ref.Number, err)
	}
	*found = append(*found, ref)
	return l.program.Load(domain.Stored{Invoices: l.one})
}
