package domain_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"dealcredit/domain"
)

// spillStore is a pure in-memory stand-in for the projection's state tables. It answers
// Wants with exactly the records the contract names (no more), so a Wants that misses a
// record the fold reads makes the spilled fold differ from the in-memory one.
type spillStore struct {
	deals    map[string]domain.StoredDeal
	invoices map[domain.InvoiceRef]domain.StoredInvoice
	excs     map[domain.ExceptionRef]domain.StoredException
}

func newSpillStore() *spillStore {
	return &spillStore{deals: map[string]domain.StoredDeal{}, invoices: map[domain.InvoiceRef]domain.StoredInvoice{},
		excs: map[domain.ExceptionRef]domain.StoredException{}}
}

func (s *spillStore) load(w domain.Wants) domain.Stored {
	var out domain.Stored
	window := func(d domain.StoredDeal, k domain.DayKey) bool {
		return d.Approved && !k.Until.Before(d.ApprovedOn) && !k.Day.After(d.ExpiresOn)
	}
	for _, d := range s.deals {
		hit := false
		for _, id := range w.DealIDs {
			hit = hit || d.ID == id
		}
		for _, k := range w.DealsByKey {
			hit = hit || (d.CustomerKey == k.Key && window(d, k))
		}
		for _, k := range w.DealsByDomain {
			hit = hit || (d.Domain != "" && d.Domain == k.Key && window(d, k))
		}
		if hit {
			out.Deals = append(out.Deals, d)
		}
	}
	invs := map[domain.InvoiceRef]bool{}
	for _, r := range w.Invoices {
		invs[r] = true
	}
	indexed := func(i domain.StoredInvoice, key string, from domain.Date) bool {
		if i.Date.IsZero() || i.Date.Before(from) {
			return false
		}
		for _, k := range i.Keys {
			if k == key || key == "*" {
				return true
			}
		}
		return false
	}
	for r, i := range s.invoices {
		for _, k := range w.InvoicesByIndex {
			invs[r] = invs[r] || indexed(i, k.Key, k.From)
		}
		for _, df := range w.InvoicesOfDeals {
			if d, ok := s.deals[df.ID]; ok {
				hit := indexed(i, "k:"+d.CustomerKey, df.From) || indexed(i, "r:"+d.ID, df.From) ||
					(d.Domain != "" && indexed(i, "d:"+d.Domain, df.From))
				invs[r] = invs[r] || hit
			}
		}
	}
	for _, e := range s.excs {
		if invs[e.InvoiceRef] {
			out.Exceptions = append(out.Exceptions, e)
		}
	}
	for r, want := range invs {
		if i, ok := s.invoices[r]; ok && want {
			out.Invoices = append(out.Invoices, i)
		}
	}
	return out
}

// save writes what Evict returned, failing when a record marked New is already stored
// or one not marked New is missing (the projection inserts the first and updates the
// second).
func (s *spillStore) save(tb testing.TB, st domain.Stored) {
	tb.Helper()
	check := func(what string, isNew, exists bool) {
		if isNew == exists {
			tb.Fatalf("%s: New %v, but stored %v", what, isNew, exists)
		}
	}
	for _, d := range st.Deals {
		_, ok := s.deals[d.ID]
		check("deal "+d.ID, d.New, ok)
		s.deals[d.ID] = deepCopy(tb, d)
	}
	for _, i := range st.Invoices {
		_, ok := s.invoices[i.InvoiceRef]
		check("invoice "+i.Number, i.New, ok)
		s.invoices[i.InvoiceRef] = deepCopy(tb, i)
	}
	for _, e := range st.Exceptions {
		_, ok := s.excs[e.ExceptionRef]
		check("exception "+e.Number, e.New, ok)
		s.excs[e.ExceptionRef] = deepCopy(tb, e)
	}
	for _, r := range st.Closed {
		if _, ok := s.excs[r]; !ok {
			tb.Fatalf("closed exception %s line %d was never stored", r.Number, r.Line)
		}
		delete(s.excs, r)
	}
}

// put writes what Evict returned without checking its New marks (a stale fold's).
func (s *spillStore) put(st domain.Stored) {
	for _, d := range st.Deals {
		s.deals[d.ID] = d
	}
	for _, i := range st.Invoices {
		s.invoices[i.InvoiceRef] = i
	}
	for _, e := range st.Exceptions {
		s.excs[e.ExceptionRef] = e
	}
	for _, r := range st.Closed {
		delete(s.excs, r)
	}
}

// deepCopy returns a copy of v that shares nothing with it (through JSON), as a store
// holds its records: a fold that kept writing into an evicted record, or a record that
// does not hold the whole state, makes the spilled fold differ from the in-memory one.
func deepCopy[T any](tb testing.TB, v T) T {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		tb.Fatal(err)
	}
	return out
}

// spilled folds envs in batches of size n the way the attribution projection does:
// Wants, Load, Apply, Evict, save, and a restart from a copy of Core after every batch.
func spilled(tb testing.TB, envs []domain.Envelope, n int) domain.Outcome {
	tb.Helper()
	store := newSpillStore()
	p := domain.NewSpillingProgram()
	var all domain.Outcome
	for start := 0; start < len(envs); start += n {
		batch := envs[start:min(start+n, len(envs))]
		var w domain.Wants
		for _, env := range batch {
			p.Wants(env, &w)
		}
		if err := p.Load(store.load(w)); err != nil {
			tb.Fatal(err)
		}
		if err := p.Load(store.load(p.WantsMore(w))); err != nil {
			tb.Fatal(err)
		}
		for _, env := range batch {
			o, err := p.Apply(env)
			if err != nil {
				tb.Fatalf("apply %d: %v", env.Position, err)
			}
			all.Credits = append(all.Credits, o.Credits...)
			all.Exceptions = append(all.Exceptions, o.Exceptions...)
		}
		st, err := p.Evict()
		if err != nil {
			tb.Fatal(err)
		}
		store.save(tb, st)
		core := deepCopy(tb, p.Core())
		p = domain.RestoreProgram(core)
		a, _ := json.Marshal(core)
		b, _ := json.Marshal(p.Core())
		if !bytes.Equal(a, b) {
			tb.Fatalf("core does not survive a restart:\n%s\n%s", a, b)
		}
	}
	return all
}

// loadUnder loads what w names the way the attribution projection does while the batch
// before is still being written: the store's answer to o.ForStore(w) less what the
// overlay covers, then the overlay's records (deals first: the overlay's invoices of a
// deal are found through it), then the open exceptions of every invoice loaded.
func (s *spillStore) loadUnder(tb testing.TB, p *domain.Program, o *domain.Overlay, w domain.Wants) {
	tb.Helper()
	st := s.load(o.ForStore(w))
	var keep domain.Stored
	for _, d := range st.Deals {
		if !o.CoversDeal(d.ID) {
			keep.Deals = append(keep.Deals, d)
		}
	}
	keep.Deals = append(keep.Deals, o.Deals(w)...)
	if err := p.Load(domain.Stored{Deals: keep.Deals}); err != nil {
		tb.Fatal(err)
	}
	var refs []domain.InvoiceRef
	for _, i := range st.Invoices {
		if !o.CoversInvoice(i.InvoiceRef) {
			keep.Invoices = append(keep.Invoices, i)
			refs = append(refs, i.InvoiceRef)
		}
	}
	for _, i := range p.OverlayInvoices(o, w) {
		keep.Invoices = append(keep.Invoices, i)
		refs = append(refs, i.InvoiceRef)
	}
	for _, e := range s.load(domain.Wants{Invoices: refs}).Exceptions {
		if !o.CoversException(e.ExceptionRef) {
			keep.Exceptions = append(keep.Exceptions, e)
		}
	}
	keep.Exceptions = append(keep.Exceptions, o.Exceptions(refs)...)
	if err := p.Load(domain.Stored{Invoices: keep.Invoices, Exceptions: keep.Exceptions}); err != nil {
		tb.Fatal(err)
	}
}

// pipelined folds envs in batches of size n with the store one batch behind: batch N+1
// is loaded (through the overlay of batch N's records) before batch N is saved, as a
// build folds the next batch while the one before is written.
func pipelined(tb testing.TB, envs []domain.Envelope, n int) domain.Outcome {
	tb.Helper()
	store := newSpillStore()
	p := domain.NewSpillingProgram()
	var all domain.Outcome
	var inFlight *domain.Stored
	var overlay *domain.Overlay
	for start := 0; start < len(envs); start += n {
		batch := envs[start:min(start+n, len(envs))]
		var w domain.Wants
		for _, env := range batch {
			p.Wants(env, &w)
		}
		store.loadUnder(tb, p, overlay, w)
		store.loadUnder(tb, p, overlay, p.WantsMore(w))
		if inFlight != nil {
			store.save(tb, *inFlight) // batch N's write ends while N+1 is folded
		}
		for _, env := range batch {
			o, err := p.Apply(env)
			if err != nil {
				tb.Fatalf("apply %d: %v", env.Position, err)
			}
			all.Credits = append(all.Credits, o.Credits...)
			all.Exceptions = append(all.Exceptions, o.Exceptions...)
		}
		st, err := p.Evict()
		if err != nil {
			tb.Fatal(err)
		}
		st = deepCopy(tb, st)
		inFlight, overlay = &st, domain.NewOverlay(st)
	}
	return all
}

func TestPropertySpilledFoldEqualsInMemory(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		w := randomLog(t, seed)
		want, _ := json.Marshal(domain.Outcome{Credits: w.credits, Exceptions: w.excs})
		for _, n := range []int{1, 2, 3, 7, len(w.log)} {
			got, _ := json.Marshal(spilled(t, w.log, n))
			if !bytes.Equal(want, got) {
				t.Fatalf("seed %d, batches of %d: the spilled fold differs from the in-memory one\nwant %s\ngot  %s", seed, n, want, got)
			}
			got, _ = json.Marshal(pipelined(t, w.log, n))
			if !bytes.Equal(want, got) {
				t.Fatalf("seed %d, batches of %d: the pipelined spilled fold differs from the in-memory one\nwant %s\ngot  %s", seed, n, want, got)
			}
		}
	}
}

// Without the overlay, a batch loaded before the batch before it is saved misses what
// that batch changed: the negative control of the pipelined property.
func TestPipelinedFoldWithoutOverlayDiffers(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		w := randomLog(t, seed)
		want, _ := json.Marshal(domain.Outcome{Credits: w.credits, Exceptions: w.excs})
		if got, ok := staleFold(t, w.log, 2); !ok || !bytes.Equal(want, got) {
			return
		}
	}
	t.Fatal("every log folded the same with a store one batch behind and no overlay: the property above proves nothing")
}

// staleFold is pipelined without the overlay; ok is false when the fold fails (a stale
// store can make the program refuse an event, or panic).
func staleFold(t *testing.T, envs []domain.Envelope, n int) (out []byte, ok bool) {
	t.Helper()
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	store := newSpillStore()
	p := domain.NewSpillingProgram()
	var all domain.Outcome
	var inFlight *domain.Stored
	for start := 0; start < len(envs); start += n {
		batch := envs[start:min(start+n, len(envs))]
		var w domain.Wants
		for _, env := range batch {
			p.Wants(env, &w)
		}
		_ = p.Load(store.load(w))
		_ = p.Load(store.load(p.WantsMore(w)))
		if inFlight != nil {
			store.put(*inFlight)
		}
		for _, env := range batch {
			o, err := p.Apply(env)
			if err != nil {
				return nil, false
			}
			all.Credits = append(all.Credits, o.Credits...)
			all.Exceptions = append(all.Exceptions, o.Exceptions...)
		}
		st, err := p.Evict()
		if err != nil {
			t.Fatal(err)
		}
		st = deepCopy(t, st)
		inFlight = &st
	}
	b, _ := json.Marshal(all)
	return b, true
}

func TestEvictNeedsASpillingProgram(t *testing.T) {
	if _, err := domain.NewProgram().Evict(); err == nil {
		t.Fatal("Evict on an in-memory program succeeded")
	}
}

// The program caches the tier requirements a partner misses; every partner event must
// show in the next scorecard exactly as ScorePartner computes it.
func TestScorecardFollowsPartnerEvents(t *testing.T) {
	w := newWorld(t, "2026-01-05")
	q := domain.MustQuarter("2026Q1")
	check := func(step string) {
		t.Helper()
		got, ok := w.prog.Scorecard("var-1", q)
		ps, _ := w.prog.Partner("var-1")
		pol := w.prog.PolicyAt(q.End())
		want := domain.ScorePartner(ps, pol, q, w.prog.Credited("var-1", q, pol.PlatinumMinTarget.Currency))
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(want)
		if !ok || !bytes.Equal(a, b) {
			t.Fatalf("%s: scorecard\n%s\nwant\n%s", step, a, b)
		}
	}
	w.enroll("var-1", "emea", domain.TierRegistered)
	check("enrolled")
	before, _ := w.prog.Scorecard("var-1", q)
	for i := 0; i < 2; i++ {
		w.must(w.partnerCmd("var-1", "", domain.Certify{PartnerID: "var-1", Engineer: fmt.Sprintf("eng-%d", i),
			Segment: domain.SegmentClientManagement, CertifiedOn: domain.MustDate("2026-01-05")}))
		check(fmt.Sprintf("certified %d", i+1))
	}
	w.must(w.partnerCmd("var-1", "", domain.Commit{PartnerID: "var-1", Segments: domain.SoftwareSegments,
		QuarterlyTarget: domain.Money{Amount: 30_000_000, Currency: "USD"}}))
	check("committed")
	after, _ := w.prog.Scorecard("var-1", q)
	if len(after.Unmet) >= len(before.Unmet) && after.Eligible == before.Eligible {
		t.Fatalf("partner events changed nothing: before %+v after %+v", before, after)
	}
}
