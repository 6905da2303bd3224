package attribution

import (
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"dealcredit/domain"
	"dealcredit/internal/pgpipe"
	"dealcredit/projections/runner"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Reader answers finance queries from the attribution tables. Every answer
// carries the log position the tables reflected when it was read (read in
// the same snapshot as the rows).
type Reader struct {
	pool   *pgxpool.Pool
	pipe   *pgpipe.Pipe // withState's small reads
	bulk   *pgpipe.Pipe // withState's large reads, never in the small reads' pipelines
	schema string
	fixed  int64 // position of a replay schema (no checkpoint row); -1 = live
	// skipOverflow leaves the rows of a currency whose totals overflowed out
	// of statements and revenue mix instead of refusing the read (a replay's
	// files, which list the currency in overflowed_totals.csv).
	skipOverflow bool
}

// NewReader returns a Reader of the live tables.
func NewReader(pool *pgxpool.Pool) *Reader {
	return &Reader{pool: pool, pipe: pgpipe.New(pool), bulk: pgpipe.New(pool), schema: runner.Schema(Name), fixed: -1}
}

// LedgerLine is one row of the attribution ledger.
type LedgerLine struct {
	Position       int64    `json:"position"`
	Seq            int      `json:"seq"`
	OEMID          string   `json:"oem_id"`
	InvoiceNumber  string   `json:"invoice_number"`
	Revision       int      `json:"revision"`
	Line           int      `json:"line"`
	Kind           string   `json:"kind"`
	PartnerID      string   `json:"partner_id"`
	RegistrationID string   `json:"registration_id"`
	Customer       string   `json:"customer"`
	Segment        string   `json:"segment"`
	Quarter        string   `json:"quarter"`
	Adjustment     bool     `json:"adjustment"`
	AdjustsQuarter string   `json:"adjusts_quarter"`
	AmountMinor    int64    `json:"amount_minor"`
	Currency       string   `json:"currency"`
	PolicyVersion  int      `json:"policy_version"`
	Reason         string   `json:"reason"`
	EventIDs       []string `json:"event_ids"`
	// BaseMinor, RateBPS, ReturnedMinor and ReturnedBeforeMinor are how the
	// amount was computed (domain.Credit's Base, RateBPS, Returned and
	// ReturnedBefore): the line's amount, the rate applied to it (10000 for
	// the whole line) and, for a clawback, the line's amount returned by
	// credit memos after and before the memo.
	BaseMinor           int64 `json:"base_minor"`
	RateBPS             int64 `json:"rate_bps"`
	ReturnedMinor       int64 `json:"returned_minor"`
	ReturnedBeforeMinor int64 `json:"returned_before_minor"`
}

// ledgerSelectFrom is the SELECT of the ledger's columns (ledgerColumns, in
// scanLedger's order) after the position column pos (none when empty), up
// to FROM.
func ledgerSelectFrom(pos string) string {
	cols := strings.Join(ledgerColumns, ", ")
	if pos != "" {
		cols = pos + ", " + cols
	}
	return `SELECT ` + cols + ` FROM `
}

// scanLedger scans a row of ledgerSelectFrom: the position column into pos
// (nil: a query without it), then the line.
func scanLedger(pos *int64, rows pgx.Rows) (LedgerLine, error) {
	var l LedgerLine
	dest := []any{&l.Position, &l.Seq, &l.OEMID, &l.InvoiceNumber, &l.Revision, &l.Line, &l.Kind, &l.PartnerID,
		&l.RegistrationID, &l.Customer, &l.Segment, &l.Quarter, &l.Adjustment, &l.AdjustsQuarter, &l.AmountMinor,
		&l.Currency, &l.PolicyVersion, &l.Reason, &l.EventIDs, &l.BaseMinor, &l.RateBPS, &l.ReturnedMinor, &l.ReturnedBeforeMinor}
	if pos != nil {
		dest = append([]any{pos}, dest...)
	}
	err := rows.Scan(dest...)
	return l, err
}

// Statement is a partner's statement for one quarter in one currency. The
// tier-review scorecard (EligibleTier, QuarterlyTarget, TargetCurrency,
// ScorecardCredited, Unmet) is on the row of ScorecardCurrency only; the
// rows of other currencies leave it empty and name that currency.
type Statement struct {
	PartnerID          string `json:"partner_id"`
	Quarter            string `json:"quarter"`
	Currency           string `json:"currency"`
	CreditedRevenue    int64  `json:"credited_revenue_minor"`
	Rebates            int64  `json:"rebates_minor"`
	ServiceCredit      int64  `json:"service_credit_minor"`
	AdjustmentRevenue  int64  `json:"adjustment_revenue_minor"`
	AdjustmentRebates  int64  `json:"adjustment_rebates_minor"`
	AdjustmentService  int64  `json:"adjustment_service_minor"`
	Tier               string `json:"tier"`
	EligibleTier       string `json:"eligible_tier"`
	CertifiedEngineers int    `json:"certified_engineers"`
	// OutsideCommitment counts the partner's registrations of the quarter flagged
	// outside its commitment (docs/rules.md rule 8a).
	OutsideCommitment int      `json:"outside_commitment_registrations"`
	Segments          []string `json:"segments"`
	QuarterlyTarget   int64    `json:"quarterly_target_minor"`
	TargetCurrency    string   `json:"target_currency"`
	ScorecardCredited int64    `json:"scorecard_credited_minor"`
	Unmet             []string `json:"unmet"`
	// CurrentTier is the tier the partner holds (Tier, under a clearer
	// name); EligibleTier is the tier the quarter's scorecard qualifies for.
	CurrentTier       string `json:"current_tier"`
	ScorecardCurrency string `json:"scorecard_currency"`
	// The rebate lifecycle: Accrued is the statement's rebates (own and
	// adjustments), Approved says whether finance approved it, ApprovedRebates
	// what it approved (Accrued at the approval, which never changes after),
	// Paid the payouts recorded and Outstanding = ApprovedRebates - Paid.
	Status          string `json:"status"`
	Accrued         int64  `json:"accrued_rebates_minor"`
	ApprovedRebates int64  `json:"approved_rebates_minor"`
	Paid            int64  `json:"paid_minor"`
	Outstanding     int64  `json:"outstanding_minor"`
}

// Mix is a quarter's direct and indirect revenue in one currency: the
// quarter's own figures (and its indirect share), and apart from them the
// adjustments booked in the quarter for closed quarters.
type Mix struct {
	Quarter                 string `json:"quarter"`
	Currency                string `json:"currency"`
	DirectMinor             int64  `json:"direct_minor"`
	IndirectMinor           int64  `json:"indirect_minor"`
	IndirectShareBPS        int64  `json:"indirect_share_bps"`
	AdjustmentDirectMinor   int64  `json:"adjustment_direct_minor"`
	AdjustmentIndirectMinor int64  `json:"adjustment_indirect_minor"`
}

// Registration is a deal registration's current state.
type Registration struct {
	DealID        string   `json:"deal_id"`
	PartnerID     string   `json:"partner_id"`
	Customer      string   `json:"customer"`
	CustomerKey   string   `json:"customer_key"`
	Geography     string   `json:"geography"`
	Segments      []string `json:"segments"`
	ExpectedMinor int64    `json:"expected_minor"`
	Currency      string   `json:"currency"`
	OEMID         string   `json:"oem_id"`
	Status        string   `json:"status"`
	RegisteredOn  string   `json:"registered_on"`
	ApprovedOn    string   `json:"approved_on"`
	ExpiresOn     string   `json:"expires_on"`
	Extensions    int      `json:"extensions"`
	Conflicts     []string `json:"conflicts"`
	Overridden    bool     `json:"overridden"`
	Reason        string   `json:"reason"`
	PolicyVersion int      `json:"policy_version"`
	// SizeBand is the customer size band the partner gave ("" for none).
	SizeBand string `json:"size_band"`
	// OutsideCommitment, when not nil, flags a registration in segments its partner
	// was not committed to (docs/rules.md rule 8a).
	OutsideCommitment *CommitmentFlag `json:"outside_commitment,omitempty"`
}

// CommitmentFlag names the rule that flagged a registration and the segments
// outside the partner's commitment.
type CommitmentFlag struct {
	Rule     string   `json:"rule"`
	Segments []string `json:"segments"`
}

// RegistrationFilter selects registrations; empty fields match everything.
// After and Limit page them by deal id: only deals after After, at most
// Limit of them (0: all).
type RegistrationFilter struct {
	PartnerID string
	Status    string
	After     string
	Limit     int
}

// snapshot runs fn in a repeatable-read, read-only transaction and returns
// the position the tables reflect in that snapshot.
func (r *Reader) snapshot(ctx context.Context, fn func(tx pgx.Tx) error) (int64, error) {
	var pos int64
	err := pgx.BeginTxFunc(ctx, r.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if r.fixed >= 0 {
			pos = r.fixed
		} else {
			cp, err := runner.ReadCheckpoint(ctx, tx, Name)
			if err != nil {
				return err
			}
			pos = cp.Position
		}
		return fn(tx)
	})
	return pos, err
}

func (r *Reader) table(name string) string { return pgx.Identifier{r.schema, name}.Sanitize() }

// posColumn is the SQL of the position the tables reflect, as a column of
// the query that reads them: the checkpoint row, read by the same statement
// and so in the same snapshot as the rows (the replay schema's fixed
// position).
func (r *Reader) posColumn() string {
	if r.fixed >= 0 {
		return strconv.FormatInt(r.fixed, 10) + "::bigint AS read_position"
	}
	return `(SELECT position FROM projection_checkpoints WHERE name = '` + Name + `') AS read_position`
}

// each runs query, one statement whose first column is posColumn, and
// passes every row to scan (which scans that column into pos first); it
// returns the position. One round trip, no transaction: a single statement
// reads one snapshot. With no rows the position is read apart.
func (r *Reader) each(ctx context.Context, what, query string, args []any, scan func(pos *int64, rows pgx.Rows) error) (int64, error) {
	rows, err := r.pool.Query(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("attribution: %s: %w", what, err)
	}
	defer rows.Close()
	pos, n := int64(0), 0
	for rows.Next() {
		n++
		if err := scan(&pos, rows); err != nil {
			return 0, fmt.Errorf("attribution: %s: %w", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("attribution: %s: %w", what, err)
	}
	if n > 0 {
		return pos, nil
	}
	return r.position(ctx)
}

// position returns the position the tables reflect now.
func (r *Reader) position(ctx context.Context) (int64, error) {
	if r.fixed >= 0 {
		return r.fixed, nil
	}
	cp, err := runner.ReadCheckpoint(ctx, r.pool, Name)
	return cp.Position, err
}

// cond is one equality of a filter: column = value, left out when value is
// empty.
type cond struct{ column, value string }

// filter returns the WHERE clause (empty: all rows) and the arguments of the
// conditions with a value. Each combination is its own statement, so each
// is prepared with a plan that uses the index made for it (a generic plan
// of "$1 = ” OR column = $1" scans the whole table).
func filter(conds ...cond) (string, []any) {
	var where strings.Builder
	var args []any
	for _, c := range conds {
		if c.value == "" {
			continue
		}
		if len(args) == 0 {
			where.WriteString(" WHERE ")
		} else {
			where.WriteString(" AND ")
		}
		args = append(args, c.value)
		where.WriteString(c.column + " = $" + strconv.Itoa(len(args)))
	}
	return where.String(), args
}

// and adds "column op $n" (n: value's argument) to the WHERE clause of
// filter.
func and(where string, args []any, columnOp string, value any) (string, []any) {
	args = append(args, value)
	if where == "" {
		where = " WHERE "
	} else {
		where += " AND "
	}
	return where + columnOp + " $" + strconv.Itoa(len(args)), args
}

// Ledger streams the ledger lines of quarter (all when empty) and partner
// (all when empty) to fn, in log order, from one statement (one snapshot,
// streamed as it arrives).
func (r *Reader) Ledger(ctx context.Context, quarter, partnerID string, fn func(LedgerLine) error) (int64, error) {
	where, args := filter(cond{"quarter", quarter}, cond{"partner_id", partnerID})
	return r.each(ctx, "ledger", ledgerSelectFrom(r.posColumn())+r.table("ledger")+where+` ORDER BY position, seq`, args,
		func(pos *int64, rows pgx.Rows) error {
			l, err := scanLedger(pos, rows)
			if err != nil {
				return err
			}
			return fn(l)
		})
}

// statementColumns lists the statements' columns in Statements' scan order.
const statementColumns = `partner_id, quarter, currency, credited_revenue, rebates, service_credit,
	adjustment_revenue, adjustment_rebates, adjustment_service, tier, eligible_tier, certified_engineers, segments,
	quarterly_target, target_currency, scorecard_credited, unmet, current_tier, scorecard_currency, approved,
	approved_rebates, paid, outside_commitment`

// Statements returns the partner's statements for quarter (all partners
// when partnerID is empty, all quarters when quarter is empty), one per
// currency, sorted by partner, quarter and currency (none is an empty
// slice), and the read model's state, read by the same statement. When a
// currency whose totals overflowed has ledger lines of that partner and
// quarter, the same statement says so and the error is totalsOverflowed's.
func (r *Reader) Statements(ctx context.Context, partnerID, quarter string) ([]Statement, runner.ReadState, error) {
	out := []Statement{}
	where, args := filter(cond{"partner_id", partnerID}, cond{"quarter", quarter})
	query := `SELECT ` + statementColumns + ` FROM ` + r.table("statements") + where
	if !r.skipOverflow {
		// One more row when a currency whose totals overflowed has lines here: its
		// partner_id is '' (no partner's is), its currency that currency.
		query += ` UNION ALL SELECT '', '', p.currency, 0, 0, 0, 0, 0, 0, '', '', 0, '{}', 0, '', 0, '{}', '', '', false, 0, 0, 0 FROM (` +
			r.overflowProbe(`l.partner_id <> '' AND l.kind IN ('revenue', 'rebate', 'service') AND NOT EXISTS (SELECT 1 FROM `+
				r.table("statements")+` s WHERE s.partner_id = l.partner_id AND s.quarter = l.quarter AND s.currency = l.currency)`,
				cond{"l.partner_id", partnerID}, cond{"l.quarter", quarter}) + `) p`
	}
	var s Statement
	var approved bool
	overflowed := ""
	size := small // one partner's: a row per quarter and currency
	if partnerID == "" {
		size = large
	}
	st, err := r.withState(ctx, size, "statements", query, `s.partner_id, s.quarter, s.currency`, args,
		[]any{&s.PartnerID, &s.Quarter, &s.Currency, &s.CreditedRevenue, &s.Rebates, &s.ServiceCredit,
			&s.AdjustmentRevenue, &s.AdjustmentRebates, &s.AdjustmentService, &s.Tier, &s.EligibleTier, &s.CertifiedEngineers,
			&s.Segments, &s.QuarterlyTarget, &s.TargetCurrency, &s.ScorecardCredited, &s.Unmet, &s.CurrentTier, &s.ScorecardCurrency,
			&approved, &s.ApprovedRebates, &s.Paid, &s.OutsideCommitment},
		func() error {
			if s.PartnerID == "" {
				overflowed = s.Currency
				return nil
			}
			s.Status, s.Accrued, s.Outstanding = "accrued", s.Rebates+s.AdjustmentRebates, s.ApprovedRebates-s.Paid
			if approved {
				s.Status = "approved"
			}
			out = append(out, s)
			s = Statement{} // the slices scanned next must not alias this row's
			return nil
		})
	if err == nil && overflowed != "" {
		return nil, st, totalsOverflowed(quarter, overflowed)
	}
	return out, st, err
}

// readSize says whether a read's work is small and bounded (a partner's
// statements, a page of at most maxPipedRows deals: Reader.pipe) or may be
// large (a whole list, an aggregate over many ledger rows: Reader.bulk).
// Postgres runs a pipeline's statements in order, so the large ones get
// pipelines of their own, where they hold up only each other.
type readSize bool

const (
	small readSize = true
	large readSize = false
)

// maxPipedRows is the largest page of deals that is read in a pipeline.
const maxPipedRows = 100

// withState runs one statement: the read model's state
// (runner.ReadStateFrom) LEFT JOINed to the rows of query (a SELECT whose
// first column is never NULL), ordered by order (columns of the rows as
// s.column). For every row it scans the row's columns into dest (after the
// state's) and calls each; with no rows, the state alone. One round trip,
// one snapshot, the state even when there are no rows.
func (r *Reader) withState(ctx context.Context, size readSize, what, query, order string, args []any, dest []any, each func() error) (runner.ReadState, error) {
	var st runner.ReadState
	head := st.ReadStateDest(Name)
	all := append(head, dest...)
	stateOnly := append(head[:runner.ReadStateColumns:runner.ReadStateColumns], make([]any, len(dest))...)
	n := 0
	p := r.bulk
	if size == small {
		p = r.pipe
	}
	err := p.Query(ctx, `SELECT `+runner.ReadStateSelect+`, s.* FROM `+runner.ReadStateFrom(Name, r.fixed)+
		` LEFT JOIN (`+query+`) s ON true ORDER BY `+order, args, func(rows pgx.Rows) error {
		for rows.Next() {
			n++
			if rows.RawValues()[runner.ReadStateColumns] == nil { // no row joined: the state alone
				if err := rows.Scan(stateOnly...); err != nil {
					return err
				}
			} else if err := rows.Scan(all...); err != nil {
				return err
			} else if err := each(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("attribution: %s: %w", what, err)
	}
	if n == 0 {
		return st, runner.NoCheckpoint(Name)
	}
	st.Finish()
	return st, nil
}

// RevenueMix returns quarter's mix (all quarters when empty), one per
// currency; none is an empty slice. When a currency whose totals overflowed
// has ledger lines in quarter, the same statement says so and the error is
// totalsOverflowed's.
func (r *Reader) RevenueMix(ctx context.Context, quarter string) ([]Mix, int64, error) {
	out := []Mix{}
	where, args := filter(cond{"quarter", quarter})
	query := `SELECT ` + r.posColumn() + `, quarter, currency, direct_minor, indirect_minor, indirect_share_bps,
		adjustment_direct_minor, adjustment_indirect_minor FROM ` + r.table("revenue_mix") + where
	if !r.skipOverflow {
		// One more row when a currency whose totals overflowed has lines in the
		// quarter: its quarter is '' (no row's is), its currency that currency.
		query += ` UNION ALL SELECT ` + r.posColumn() + `, '', p.currency, 0, 0, 0, 0, 0 FROM (` +
			r.overflowProbe(`NOT EXISTS (SELECT 1 FROM `+r.table("revenue_mix")+` m WHERE m.quarter = l.quarter AND m.currency = l.currency)`,
				cond{"l.quarter", quarter}) + `) p`
	}
	overflowed := ""
	pos, err := r.each(ctx, "revenue mix", query+` ORDER BY quarter, currency`, args,
		func(pos *int64, rows pgx.Rows) error {
			var m Mix
			if err := rows.Scan(pos, &m.Quarter, &m.Currency, &m.DirectMinor, &m.IndirectMinor, &m.IndirectShareBPS,
				&m.AdjustmentDirectMinor, &m.AdjustmentIndirectMinor); err != nil {
				return err
			}
			if m.Quarter == "" {
				overflowed = m.Currency
				return nil
			}
			out = append(out, m)
			return nil
		})
	if err == nil && overflowed != "" {
		return nil, pos, totalsOverflowed(quarter, overflowed)
	}
	return out, pos, err
}

// registrationColumns lists the registrations' columns in Registrations'
// scan order.
const registrationColumns = `deal_id, partner_id, customer, customer_key, geography, segments, expected_minor,
	currency, oem_id, status, registered_on, approved_on, expires_on, extensions, conflicts, overridden, reason,
	policy_version, size_band, outside_commitment`

// Registrations returns the registrations matching f, sorted by deal id
// (none is an empty slice), and the read model's state, read by the same
// statement.
func (r *Reader) Registrations(ctx context.Context, f RegistrationFilter) ([]Registration, runner.ReadState, error) {
	out := make([]Registration, 0, cmp.Or(min(f.Limit, 1000), 64))
	where, args := filter(cond{"partner_id", f.PartnerID}, cond{"status", f.Status})
	if f.After != "" {
		where, args = and(where, args, "deal_id >", f.After)
	}
	page := "" // the outer query orders the rows; a page is the first Limit by deal id
	if f.Limit > 0 {
		args = append(args, f.Limit)
		page = ` ORDER BY deal_id LIMIT $` + strconv.Itoa(len(args))
	}
	var g Registration
	var outside []string
	size := large
	if f.Limit > 0 && f.Limit <= maxPipedRows {
		size = small
	}
	st, err := r.withState(ctx, size, "registrations", `SELECT `+registrationColumns+` FROM `+r.table("registrations")+where+page,
		`s.deal_id`, args,
		[]any{&g.DealID, &g.PartnerID, &g.Customer, &g.CustomerKey, &g.Geography, &g.Segments, &g.ExpectedMinor,
			&g.Currency, &g.OEMID, &g.Status, &g.RegisteredOn, &g.ApprovedOn, &g.ExpiresOn, &g.Extensions, &g.Conflicts,
			&g.Overridden, &g.Reason, &g.PolicyVersion, &g.SizeBand, &outside},
		func() error {
			if len(outside) > 0 {
				g.OutsideCommitment = &CommitmentFlag{Rule: domain.RuleOutsideCommitment, Segments: outside}
			}
			out = append(out, g)
			g, outside = Registration{}, nil
			return nil
		})
	return out, st, err
}

// WaitForPosition blocks until the live tables reflect at least pos (for
// read-your-writes after an append) or ctx ends.
func (r *Reader) WaitForPosition(ctx context.Context, pos int64) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		cp, err := runner.ReadCheckpoint(ctx, r.pool, Name)
		if err == nil && cp.Position >= pos {
			return nil
		}
		if err == nil && cp.Status == runner.StateFailed {
			return fmt.Errorf("attribution: projection stopped at event %d (%s): %s", cp.FailedPosition, cp.FailedType, cp.Error)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("attribution: wait for position %d: %w", pos, ctx.Err())
		case <-t.C:
		}
	}
}

// LedgerCSVHeader is the stable header of the ledger CSV (attribution.csv,
// the export and the API's text/csv answer).
var LedgerCSVHeader = []string{"position", "seq", "oem_id", "invoice_number", "revision", "line", "kind", "partner_id",
	"registration_id", "customer", "segment", "quarter", "adjustment", "adjusts_quarter", "amount_minor", "currency",
	"policy_version", "reason", "event_ids"}

// WriteLedgerCSV writes the ledger of quarter and partner (empty = all) as
// CSV, with LedgerCSVHeader, and returns the position it reflects.
func (r *Reader) WriteLedgerCSV(ctx context.Context, w io.Writer, quarter, partnerID string) (int64, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write(LedgerCSVHeader); err != nil {
		return 0, fmt.Errorf("attribution: write csv: %w", err)
	}
	rec := make([]string, 0, len(LedgerCSVHeader)) // one record's fields, reused row after row
	pos, err := r.Ledger(ctx, quarter, partnerID, func(l LedgerLine) error {
		rec = append(rec[:0], i64(l.Position), strconv.Itoa(l.Seq), text(l.OEMID), text(l.InvoiceNumber), strconv.Itoa(l.Revision),
			strconv.Itoa(l.Line), l.Kind, text(l.PartnerID), text(l.RegistrationID), text(l.Customer), l.Segment, l.Quarter,
			strconv.FormatBool(l.Adjustment), l.AdjustsQuarter, i64(l.AmountMinor), l.Currency, strconv.Itoa(l.PolicyVersion),
			text(l.Reason), joinIDs(l.EventIDs))
		return cw.Write(rec)
	})
	if err != nil {
		return 0, err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return 0, fmt.Errorf("attribution: write csv: %w", err)
	}
	return pos, nil
}

// StatementsCSVHeader is the stable header of statements.csv.
var StatementsCSVHeader = []string{"partner_id", "quarter", "currency", "credited_revenue_minor", "rebates_minor",
	"service_credit_minor", "adjustment_revenue_minor", "adjustment_rebates_minor", "adjustment_service_minor", "tier",
	"eligible_tier", "certified_engineers", "segments", "quarterly_target_minor", "target_currency",
	"scorecard_credited_minor", "unmet", "current_tier", "scorecard_currency"}

// WriteStatementsCSV writes the statements of partnerID and quarter (empty =
// all) as CSV, with StatementsCSVHeader.
func (r *Reader) WriteStatementsCSV(ctx context.Context, w io.Writer, partnerID, quarter string) (int64, error) {
	ss, st, err := r.Statements(ctx, partnerID, quarter)
	if err != nil {
		return 0, err
	}
	pos := st.Position
	cw := csv.NewWriter(w)
	_ = cw.Write(StatementsCSVHeader)
	for _, s := range ss {
		_ = cw.Write([]string{text(s.PartnerID), s.Quarter, s.Currency, i64(s.CreditedRevenue), i64(s.Rebates), i64(s.ServiceCredit),
			i64(s.AdjustmentRevenue), i64(s.AdjustmentRebates), i64(s.AdjustmentService), s.Tier, s.EligibleTier,
			strconv.Itoa(s.CertifiedEngineers), joinIDs(s.Segments), i64(s.QuarterlyTarget), s.TargetCurrency,
			i64(s.ScorecardCredited), strings.Join(s.Unmet, "; "), s.CurrentTier, s.ScorecardCurrency})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return 0, fmt.Errorf("attribution: write csv: %w", err)
	}
	return pos, nil
}

// RevenueMixCSVHeader is the stable header of revenue_mix.csv.
var RevenueMixCSVHeader = []string{"quarter", "currency", "direct_minor", "indirect_minor", "indirect_share_bps",
	"adjustment_direct_minor", "adjustment_indirect_minor"}

// WriteRevenueMixCSV writes the revenue mix of quarter (all when empty) as CSV.
func (r *Reader) WriteRevenueMixCSV(ctx context.Context, w io.Writer, quarter string) (int64, error) {
	ms, pos, err := r.RevenueMix(ctx, quarter)
	if err != nil {
		return 0, err
	}
	cw := csv.NewWriter(w)
	_ = cw.Write(RevenueMixCSVHeader)
	for _, m := range ms {
		_ = cw.Write([]string{m.Quarter, m.Currency, i64(m.DirectMinor), i64(m.IndirectMinor), i64(m.IndirectShareBPS),
			i64(m.AdjustmentDirectMinor), i64(m.AdjustmentIndirectMinor)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return 0, fmt.Errorf("attribution: write csv: %w", err)
	}
	return pos, nil
}

func i64(v int64) string { return strconv.FormatInt(v, 10) }

// text is a text cell of a CSV answer: one that a spreadsheet would read as
// a formula (it starts with =, +, -, @, a tab or a carriage return; a name
// or reason comes from an OEM's invoice or a user) gets a leading
// apostrophe, which spreadsheets show as text and do not display (the
// usual defence against CSV formula injection; docs/finance.md). Numbers
// are never passed through it, so a negative amount stays a number. JSON
// and SQL readers get the text as stored.
func text(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}

func joinIDs(ids []string) string { return strings.Join(ids, " ") }

var errNoLine = errors.New("attribution: no ledger line")

// overflowProbe is the SELECT of the first currency (a one-row result at
// most) whose totals overflowed (overflowed_totals, domain.MaxGross) and
// that has ledger lines matching the filter of conds (on ledger l, their
// arguments those of the query it joins, which filters by the same values in
// the same order) and the condition shown, which says the line's totals are
// not kept (those frozen before the overflow are). The table is empty but for
// such a currency, and the ledger is probed only for a currency in it, so the
// probe costs nothing otherwise.
func (r *Reader) overflowProbe(shown string, conds ...cond) string {
	where, _ := filter(conds...)
	if where == "" {
		where = " WHERE true"
	}
	// LATERAL ... LIMIT 1, not EXISTS: a semi-join may be planned as a hash
	// join that reads the quarter's ledger lines first, even with no row in
	// overflowed_totals (it made the statement read several times slower);
	// a lateral subquery runs once per overflowed currency, so never here.
	return `SELECT o.currency FROM ` + r.table("overflowed_totals") + ` o CROSS JOIN LATERAL (SELECT 1 FROM ` + r.table("ledger") + ` l` +
		where + ` AND l.currency = o.currency AND ` + shown + ` LIMIT 1) hit ORDER BY o.currency LIMIT 1`
}

// totalsOverflowed is the answer to a read of quarter's (any quarter's when
// empty) statements or revenue mix when currency's totals overflowed: an
// Unprocessable *domain.Error naming the quarter and the currency, never
// numbers (the fold keeps none of that currency's totals but the frozen ones;
// docs/rules.md, "Why the amounts fit").
func totalsOverflowed(quarter, currency string) error {
	what := "the totals in " + currency
	if quarter != "" {
		what = "the totals of " + quarter + " " + currency
	}
	return domain.Errorf(domain.Unprocessable, "quarter", "totals.overflowed",
		"%s exceed what 64-bit minor units hold (the sum of |amount| of the %s invoice lines and payouts passed %d); "+
			"its facts and ledger lines are kept, its statements and revenue mix are not (but those of closed quarters and approved statements); see docs/rules.md", what, currency, int64(domain.MaxGross))
}

// OverflowedTotals returns the currencies whose totals overflowed
// (domain.MaxGross), sorted; none is an empty slice.
func (r *Reader) OverflowedTotals(ctx context.Context) ([]string, error) {
	rows, err := r.pool.Query(ctx, `SELECT currency FROM `+r.table("overflowed_totals")+` ORDER BY currency`)
	if err != nil {
		return nil, fmt.Errorf("attribution: overflowed totals: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("attribution: overflowed totals: %w", err)
	}
	return append([]string{}, out...), nil
}
