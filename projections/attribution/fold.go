package attribution

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"dealcredit/domain"
	"dealcredit/eventstore"
	"dealcredit/projections/runner"

	"github.com/jackc/pgx/v5"
)

// Apply loads the stored records the batch needs, folds the batch into the
// program and writes the ledger lines, exceptions, statements, revenue mix
// and registrations it changed, then the program's changed records and core,
// all through tx. Outside a build's stream, the ledger rows go into a COPY
// on tx while the batch is folded.
func (s *State) Apply(ctx context.Context, tx pgx.Tx, batch []eventstore.Record) error {
	if len(batch) == 0 {
		return nil
	}
	envs, err := s.load(ctx, tx, batch)
	if err != nil {
		return err
	}
	var w *batchWrites
	if s.stream != nil {
		w, err = s.fold(batch, envs, s.stream)
	} else {
		c := startLedgerCopy(ctx, tx)
		if w, err = s.fold(batch, envs, c); err != nil {
			c.abort(err)
			return err
		}
		err = c.finish()
	}
	if err != nil {
		return err
	}
	// The batch's writes commit with it: the tables hold its records.
	s.overlay = nil
	return w.Write(ctx, tx)
}

// Fold (runner.Pipeliner) loads through tx the stored records the batch
// needs, folds the batch into the program and returns its writes; it writes
// nothing but the ledger rows of a build's stream. The records the batch
// changed stay as the overlay of the next batch's loads until the next Fold
// or Apply, so that batch never reads older copies from the tables while
// these writes are in flight.
func (s *State) Fold(ctx context.Context, tx pgx.Tx, batch []eventstore.Record) (runner.Writes, error) {
	if len(batch) == 0 {
		return &batchWrites{}, nil
	}
	envs, err := s.load(ctx, tx, batch)
	if err != nil {
		return nil, err
	}
	var ledger ledgerSink = s.stream
	var rows *ledgerTuples
	if s.stream == nil {
		rows = &ledgerTuples{}
		ledger = rows
	}
	w, err := s.fold(batch, envs, ledger)
	if err != nil {
		return nil, err
	}
	if rows != nil {
		w.ledger = *rows
	}
	return w, nil
}

// load decodes the batch and loads the stored records it needs: those its
// events name, then the deals the invoices loaded for them need in turn.
func (s *State) load(ctx context.Context, tx pgx.Tx, batch []eventstore.Record) ([]domain.Envelope, error) {
	envs := make([]domain.Envelope, len(batch))
	var w domain.Wants
	for i, r := range batch {
		var err error
		if envs[i], err = runner.Decode(r); err != nil {
			return nil, err
		}
		s.program.Wants(envs[i], &w)
	}
	last := batch[len(batch)-1].Position
	// A batch's lookups are small joins: starting parallel workers for them costs more
	// than the join (on a busy machine, 100 ms and more per query).
	if _, err := tx.Exec(ctx, "SET LOCAL max_parallel_workers_per_gather = 0"); err != nil {
		return nil, fmt.Errorf("attribution: batch ending %d: %w", last, err)
	}
	l := loader{tx: tx, program: s.program, overlay: s.overlay, one: make([]domain.StoredInvoice, 1)}
	if err := l.load(ctx, w); err != nil {
		return nil, fmt.Errorf("attribution: batch ending %d: %w", last, err)
	}
	// The invoices loaded to be re-attributed need the deals of their customers.
	if err := l.load(ctx, s.program.WantsMore(w)); err != nil {
		return nil, fmt.Errorf("attribution: batch ending %d: %w", last, err)
	}
	return envs, nil
}

// fold folds the loaded batch, sends its ledger rows to ledger and returns
// the rest of its writes; the program's working set is evicted into them and
// into the overlay.
func (s *State) fold(batch []eventstore.Record, envs []domain.Envelope, ledger ledgerSink) (*batchWrites, error) {
	f := newFolding(s.program, ledger)
	for i, r := range batch {
		if err := f.event(r, envs[i]); err != nil {
			return nil, err
		}
	}
	last := batch[len(batch)-1].Position
	w := &batchWrites{lifecycle: f.lifecycle, overflows: f.overflows}
	w.upserts = f.readModelWrites()
	evicted, err := s.program.Evict()
	if err != nil {
		return nil, err
	}
	stored, err := storedWrites(evicted, s.program.Core())
	if err != nil {
		return nil, fmt.Errorf("attribution: write batch ending %d: %w", last, err)
	}
	w.upserts, w.closed, w.last = append(w.upserts, stored...), evicted.Closed, last
	s.overlay = domain.NewOverlay(evicted)
	return w, nil
}

// ledgerSink takes a batch's ledger rows as they are folded, each an
// encoded tuple (ledgerTuples) it must copy.
type ledgerSink interface {
	add(tuple []byte) error
}

// folding is the fold of one batch: the program and what the batch changed
// in the read models.
type folding struct {
	program   *domain.Program
	ledger    ledgerSink
	row       ledgerTuples // the ledger row being encoded
	excs      map[string]excAt
	stmts     map[stmtKey]*stmtDelta
	touched   []*stmtDelta // the statements the event being folded touched
	quarters  map[domain.Quarter]int64
	deals     map[string]int64
	lifecycle []lifecycleStep
	overflows []overflow // currencies whose totals the batch overflowed, in log order
}

// overflow is a currency whose totals overflowed and the totals frozen when it did
// (closed quarters, approved statements: rule 22), which are kept.
type overflow struct {
	currency string
	closed   []string // quarters
	// approved are the approved statements (partner and quarter) of open quarters.
	approvedPartners, approvedQuarters []string
}

// overflow drops the batch's statement rows of currency, whose totals overflowed, but
// the frozen ones: Write deletes its other stored statements and revenue mix and records
// it in overflowed_totals.
func (f *folding) overflow(currency string) {
	for k, d := range f.stmts {
		if k.currency == currency && !f.program.StatementFrozen(d.partner, d.quarter) {
			delete(f.stmts, k)
		}
	}
	// Empty, not nil: a NULL array would make "quarter <> ALL($2)" NULL, keeping every row.
	o := overflow{currency: currency, closed: []string{}, approvedPartners: []string{}, approvedQuarters: []string{}}
	closed, approved := f.program.Frozen()
	for _, q := range closed {
		o.closed = append(o.closed, q.String())
	}
	for _, s := range approved {
		o.approvedPartners, o.approvedQuarters = append(o.approvedPartners, s.PartnerID), append(o.approvedQuarters, s.Quarter.String())
	}
	f.overflows = append(f.overflows, o)
}

// excAt is an exception as of the last event of the batch that changed it.
type excAt struct {
	exc      domain.Exception
	position int64
}

func newFolding(p *domain.Program, ledger ledgerSink) *folding {
	return &folding{program: p, ledger: ledger, excs: map[string]excAt{}, stmts: map[stmtKey]*stmtDelta{},
		quarters: map[domain.Quarter]int64{}, deals: map[string]int64{}}
}

// event folds one event and records what it changed.
func (f *folding) event(r eventstore.Record, env domain.Envelope) error {
	out, err := f.program.Apply(env)
	if err != nil {
		return &runner.EventError{Position: r.Position, Type: r.Type, Err: err}
	}
	if domain.Category(r.StreamID) == "deal" {
		f.deals[r.StreamID[len("deal-"):]] = r.Position
	}
	f.touched = f.touched[:0]
	for i, c := range out.Credits {
		if err := f.credit(r, i, c); err != nil {
			return err
		}
	}
	f.scorecards(r.Position)
	for _, e := range out.Exceptions {
		f.excs[e.OEMID+"\x00"+e.InvoiceNumber+"\x00"+strconv.Itoa(e.Line)] = excAt{e, r.Position}
	}
	if c := out.Overflowed; c != "" {
		f.overflow(c)
	}
	if out.Approved != nil || out.Payout != nil {
		f.lifecycle = append(f.lifecycle, lifecycleStep{position: r.Position, eventID: r.ID.String(), approved: out.Approved, payout: out.Payout})
	}
	return nil
}

// credit books credit c (the seq-th of event r) into the ledger and, for a
// partner's revenue, rebate or service credit, into its statement (a sum
// out of range is r's *runner.EventError).
func (f *folding) credit(r eventstore.Record, seq int, c domain.Credit) error {
	f.row = f.row[:0]
	if err := f.row.addCredit(r.Position, seq, &c); err != nil {
		return &runner.EventError{Position: r.Position, Type: r.Type, Err: err}
	}
	if err := f.ledger.add(f.row); err != nil {
		return err
	}
	f.quarters[c.Quarter] = r.Position
	if c.PartnerID == "" || f.program.Overflowed(c.Amount.Currency) {
		return nil
	}
	switch c.Kind {
	case domain.CreditRevenue, domain.CreditRebate, domain.CreditService:
		if err := f.touch(c.PartnerID, c.Quarter, c.Amount.Currency, r.Position).add(c); err != nil {
			return &runner.EventError{Position: r.Position, Type: r.Type, Err: err}
		}
	}
	return nil
}

// touch returns the statement delta of partner, quarter and currency, marked
// as touched by the event at pos.
func (f *folding) touch(partner string, q domain.Quarter, currency string, pos int64) *stmtDelta {
	k := stmtKey{partner, q.String(), currency}
	d := f.stmts[k]
	if d == nil {
		d = &stmtDelta{partner: partner, quarter: q, currency: currency}
		f.stmts[k] = d
	}
	if d.position != pos {
		d.position = pos
		f.touched = append(f.touched, d)
	}
	return d
}

// scorecards takes the scorecards of the statements the event at pos
// touched, as of that event, so the tables do not depend on where batches
// start and end. A row in another currency than the scorecard's also
// touches the scorecard's row (with nothing credited, if need be), so the
// scorecard is always on the statement of its own currency.
func (f *folding) scorecards(pos int64) {
	for i := 0; i < len(f.touched); i++ {
		d := f.touched[i]
		d.scorecard, _ = f.program.Scorecard(d.partner, d.quarter)
		if cur := d.scorecard.Credited.Currency; cur != "" && cur != d.currency && !f.program.Overflowed(cur) {
			f.touch(d.partner, d.quarter, cur, pos)
		}
	}
}

// readModelWrites returns the batch's writes of the exceptions, statements,
// revenue mix and registrations it changed.
func (f *folding) readModelWrites() []upsert {
	return []upsert{
		{"exceptions", f.exceptionRows(), `ON CONFLICT (oem_id, invoice_number, line) DO UPDATE SET revision = EXCLUDED.revision,
			customer = EXCLUDED.customer, segment = EXCLUDED.segment, invoice_date = EXCLUDED.invoice_date,
			amount_minor = EXCLUDED.amount_minor, currency = EXCLUDED.currency, status = EXCLUDED.status, tried = EXCLUDED.tried,
			claimed_by = EXCLUDED.claimed_by, event_ids = EXCLUDED.event_ids, position = EXCLUDED.position,
			quarter = EXCLUDED.quarter, customer_key = EXCLUDED.customer_key, partner_id = EXCLUDED.partner_id,
			reason = EXCLUDED.reason, decided_by = EXCLUDED.decided_by`},
		{"statements", f.statementRows(), `ON CONFLICT (partner_id, quarter, currency) DO UPDATE SET
			credited_revenue = statements.credited_revenue + EXCLUDED.credited_revenue,
			rebates = statements.rebates + EXCLUDED.rebates,
			service_credit = statements.service_credit + EXCLUDED.service_credit,
			adjustment_revenue = statements.adjustment_revenue + EXCLUDED.adjustment_revenue,
			adjustment_rebates = statements.adjustment_rebates + EXCLUDED.adjustment_rebates,
			adjustment_service = statements.adjustment_service + EXCLUDED.adjustment_service,
			tier = EXCLUDED.tier, eligible_tier = EXCLUDED.eligible_tier, certified_engineers = EXCLUDED.certified_engineers,
			segments = EXCLUDED.segments, quarterly_target = EXCLUDED.quarterly_target, target_currency = EXCLUDED.target_currency,
			scorecard_credited = EXCLUDED.scorecard_credited, unmet = EXCLUDED.unmet, current_tier = EXCLUDED.current_tier,
			scorecard_currency = EXCLUDED.scorecard_currency, position = EXCLUDED.position,
			outside_commitment = EXCLUDED.outside_commitment`},
		{"revenue_mix", f.mixRows(), `ON CONFLICT (quarter, currency) DO UPDATE SET
			direct_minor = EXCLUDED.direct_minor, indirect_minor = EXCLUDED.indirect_minor,
			indirect_share_bps = EXCLUDED.indirect_share_bps, adjustment_direct_minor = EXCLUDED.adjustment_direct_minor,
			adjustment_indirect_minor = EXCLUDED.adjustment_indirect_minor, position = EXCLUDED.position`},
		{"registrations", f.registrationRows(), `ON CONFLICT (deal_id) DO UPDATE SET status = EXCLUDED.status, approved_on = EXCLUDED.approved_on,
			expires_on = EXCLUDED.expires_on, extensions = EXCLUDED.extensions, conflicts = EXCLUDED.conflicts,
			overridden = EXCLUDED.overridden, reason = EXCLUDED.reason, policy_version = EXCLUDED.policy_version,
			position = EXCLUDED.position`},
	}
}

func (f *folding) exceptionRows() [][]any {
	var rows [][]any
	for _, k := range sortedKeys(f.excs) {
		e, pos := f.excs[k].exc, f.excs[k].position
		rows = append(rows, []any{e.OEMID, e.InvoiceNumber, e.Line, e.Revision, e.Customer, string(e.Segment), dateText(e.InvoiceDate),
			e.Amount.Amount, e.Amount.Currency, e.Status, nonNil(e.Tried), e.ClaimedBy, nonNil(e.EventIDs), pos,
			domain.ExceptionID(e.OEMID, e.InvoiceNumber, e.Line), quarterText(e.InvoiceDate.Quarter()), e.CustomerKey, e.PartnerID,
			e.Reason, e.DecidedBy, e.CreditMemo})
	}
	return rows
}

func (f *folding) statementRows() [][]any {
	var rows [][]any
	for _, k := range sortedStmtKeys(f.stmts) {
		d := f.stmts[k]
		sc := d.scorecard
		eligible, unmet := string(sc.Eligible), nonNil(sc.Unmet)
		target, credited := sc.QuarterlyTarget, sc.Credited.Amount
		if sc.Credited.Currency != k.currency {
			// The scorecard is in another currency: its figures are on that row only.
			eligible, unmet, target, credited = "", []string{}, domain.Money{}, 0
		}
		rows = append(rows, []any{k.partner, k.quarter, k.currency, d.revenue, d.rebates, d.service, d.adjRevenue, d.adjRebates, d.adjSvc,
			string(sc.Tier), eligible, sc.CertifiedEngineers, segmentStrings(sc.Segments),
			target.Amount, target.Currency, credited, unmet, string(sc.Tier), sc.Credited.Currency, d.position, false, int64(0), int64(0),
			sc.OutsideCommitment})
	}
	return rows
}

func (f *folding) mixRows() [][]any {
	qs := make([]domain.Quarter, 0, len(f.quarters))
	for q := range f.quarters {
		qs = append(qs, q)
	}
	sort.Slice(qs, func(i, j int) bool { return qs[i].Compare(qs[j]) < 0 })
	var rows [][]any
	for _, q := range qs {
		for _, m := range f.program.RevenueMix(q) {
			rows = append(rows, []any{q.String(), m.Currency, m.Direct, m.Indirect, m.IndirectShareBPS,
				m.AdjustmentDirect, m.AdjustmentIndirect, f.quarters[q]})
		}
	}
	return rows
}

func (f *folding) registrationRows() [][]any {
	var rows [][]any
	for _, id := range sortedKeys(f.deals) {
		d, ok := f.program.Deal(id)
		if !ok {
			continue
		}
		conflicts := make([]string, 0, len(d.Conflicts))
		for _, c := range d.Conflicts {
			conflicts = append(conflicts, c.WithDealID)
		}
		rows = append(rows, []any{d.DealID, d.PartnerID, d.Customer.Name, d.CustomerKey, d.Geography, segmentStrings(d.Segments),
			d.ExpectedValue.Amount, d.ExpectedValue.Currency, d.OEMID, string(d.Status), dateText(d.RegisteredOn),
			dateText(d.ApprovedOn), dateText(d.ExpiresOn), d.Extensions, conflicts, d.Overridden, d.Reason,
			d.PolicyVersion, f.deals[id], d.SizeBand, segmentStrings(d.OutsideCommitment)})
	}
	return rows
}

// batchWrites are a folded batch's writes (runner.Writes).
type batchWrites struct {
	last      int64        // the batch's last position
	ledger    ledgerTuples // ledger rows that went to no COPY during the fold
	closed    []domain.ExceptionRef
	upserts   []upsert
	lifecycle []lifecycleStep
	overflows []overflow
}

// Write writes the batch's ledger rows (unless they were copied during the
// fold), deletes the exceptions it closed, merges the read models' rows and
// the program's stored records, then books approvals and payouts.
func (w *batchWrites) Write(ctx context.Context, tx pgx.Tx) error {
	if len(w.ledger) > 0 {
		if err := copyLedger(ctx, tx, w.ledger); err != nil {
			return fmt.Errorf("attribution: write batch ending %d: copy ledger: %w", w.last, err)
		}
	}
	if err := deleteClosed(ctx, tx, w.closed); err != nil {
		return fmt.Errorf("attribution: write batch ending %d: %w", w.last, err)
	}
	if err := writeUpserts(ctx, tx, w.upserts); err != nil {
		return fmt.Errorf("attribution: write batch ending %d: %w", w.last, err)
	}
	if err := writeLifecycle(ctx, tx, w.lifecycle); err != nil {
		return fmt.Errorf("attribution: write batch ending %d: %w", w.last, err)
	}
	if err := writeOverflows(ctx, tx, w.overflows); err != nil {
		return fmt.Errorf("attribution: write batch ending %d: %w", w.last, err)
	}
	return nil
}

// writeOverflows records the currencies whose totals overflowed (domain.MaxGross) and
// deletes their statements and revenue mix, which the fold no longer keeps, but those
// frozen when the currency overflowed: the final tables do not depend on the batch in
// which a currency overflowed.
func writeOverflows(ctx context.Context, tx pgx.Tx, overflows []overflow) error {
	for _, o := range overflows {
		c := o.currency
		if _, err := tx.Exec(ctx, `INSERT INTO overflowed_totals (currency) VALUES ($1) ON CONFLICT DO NOTHING`, c); err != nil {
			return fmt.Errorf("overflowed totals of %s: %w", c, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM statements WHERE currency = $1 AND quarter <> ALL($2::text[])
			AND (partner_id, quarter) NOT IN (SELECT * FROM unnest($3::text[], $4::text[]))`,
			c, o.closed, o.approvedPartners, o.approvedQuarters); err != nil {
			return fmt.Errorf("overflowed totals of %s: statements: %w", c, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM revenue_mix WHERE currency = $1 AND quarter <> ALL($2::text[])`, c, o.closed); err != nil {
			return fmt.Errorf("overflowed totals of %s: revenue mix: %w", c, err)
		}
	}
	return nil
}
