// Package attribution is the finance read model of the partner program: the
// attribution ledger, the exception queue, partner statements per quarter,
// the revenue mix per quarter and the registrations. All of it comes from
// one fold of the log through domain.Program, so it is one projection
// ("attribution", schema proj_attribution) with several tables; see
// docs/read-models.md for the columns.
//
// The Program's state is kept in the projection's schema (state.go) and
// written with each batch: a restarting runner loads it, and memory is
// bounded by one batch's records plus the program's core (partners and
// quarters), never by the log's length.
package attribution

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"dealcredit/domain"

	"github.com/jackc/pgx/v5"
)

// Name is the projection's name; its live schema is proj_attribution.
const Name = "attribution"

// Projection is the attribution projection. The zero value is ready.
type Projection struct{}

// New returns the attribution projection.
func New() *Projection { return &Projection{} }

// Name returns "attribution".
func (*Projection) Name() string { return Name }

// Version is 11: a revision that drops a line keeps the credit memos'
// returns on it in the invoice's stored record (InvoiceRecord.Parked) for a
// revision that brings it back, and a credit memo is what its highest
// revision says (what an earlier revision returned on a line the later one
// lacks is taken back); versions up to 10 lost the first and kept the second
// (docs/rules.md rule 21). When a currency's totals overflow, the statements
// and revenue mix frozen by then (closed quarters, approved statements) are
// kept; version 10 deleted them too. Version 10: the fold keeps per currency the gross
// of its facts (domain.MaxGross) in its stored core, and a currency whose
// totals overflowed has no statements or revenue mix but a row in
// overflowed_totals (docs/rules.md, "Why the amounts fit"); the same release
// folds an invoice as its highest revision says, currency included (a credit
// memo counts while that revision is in its currency, and its line waits for
// the revision that brings the line), where versions up to 9 refused a
// revision or memo in another currency and dropped a memo's line the invoice
// lacked (docs/rules.md rule 21). Version 9: the
// index of the scheduler's due expiries (registrations_due; indexes are
// created with the tables, so live tables get a new one by a rebuild).
// Version 8: a certification counts for the scorecard only once
// confirmed (docs/rules.md rule 3a; a `partner.certified` event a partner
// recorded itself is pending), and the stored core keeps each
// certification's status; registrations carry the customer size band and
// the segments outside the partner's commitment (rule 8a), statements the
// number of such registrations (outside_commitment). Version 7: the ledger's
// event_ids are uuid[] (16 bytes an id, not the 36 of its text). Version 6: statements carry their approval and payouts (table
// payouts); exceptions carry their id, quarter, customer key, the partner a
// line went to and the manual decisions of the exception queue; the core
// keeps manual decisions and approved statements. Version 5: the fold's
// stored state is this projection's compact binary form (records.go)
// instead of the domain's JSON. Version 4 kept adjustments for closed
// quarters apart in the revenue mix, the scorecard only in its currency's
// statement and the arithmetic on ledger rows; version 3 attributed lines
// in business time and re-attributed them on late facts; version 2 decided
// a line once, when it arrived; version 1 kept the state in memory. A runner
// that finds another version rebuilds (Runner.Run).
func (*Projection) Version() int { return 11 }

// Tables returns the tables compared by runner.Verify.
func (*Projection) Tables() []string {
	return []string{"ledger", "exceptions", "statements", "revenue_mix", "registrations", "payouts", "overflowed_totals"}
}

const ddl = `
CREATE TABLE ledger (
	position        bigint  NOT NULL,
	seq             int     NOT NULL,
	oem_id          text    NOT NULL,
	invoice_number  text    NOT NULL,
	revision        int     NOT NULL,
	line            int     NOT NULL,
	kind            text    NOT NULL,
	partner_id      text    NOT NULL,
	registration_id text    NOT NULL,
	customer        text    NOT NULL,
	segment         text    NOT NULL,
	quarter         text    NOT NULL,
	adjustment      boolean NOT NULL,
	adjusts_quarter text    NOT NULL,
	amount_minor    bigint  NOT NULL,
	currency        text    NOT NULL,
	policy_version  int     NOT NULL,
	reason          text    NOT NULL,
	event_ids       uuid[]  NOT NULL,
	base_minor      bigint  NOT NULL,
	rate_bps        bigint  NOT NULL,
	returned_minor  bigint  NOT NULL,
	returned_before_minor bigint NOT NULL
);
CREATE TABLE exceptions (
	oem_id         text   NOT NULL,
	invoice_number text   NOT NULL,
	line           int    NOT NULL,
	revision       int    NOT NULL,
	customer       text   NOT NULL,
	segment        text   NOT NULL,
	invoice_date   text   NOT NULL,
	amount_minor   bigint NOT NULL,
	currency       text   NOT NULL,
	status         text   NOT NULL,
	tried          text[] NOT NULL,
	claimed_by     text   NOT NULL,
	event_ids      text[] NOT NULL,
	position       bigint NOT NULL,
	exception_id   text   NOT NULL,
	quarter        text   NOT NULL,
	customer_key   text   NOT NULL,
	partner_id     text   NOT NULL,
	reason         text   NOT NULL,
	decided_by     text   NOT NULL,
	credit_memo    boolean NOT NULL,
	PRIMARY KEY (oem_id, invoice_number, line)
);
CREATE TABLE statements (
	partner_id            text   NOT NULL,
	quarter               text   NOT NULL,
	currency              text   NOT NULL,
	credited_revenue      bigint NOT NULL,
	rebates               bigint NOT NULL,
	service_credit        bigint NOT NULL,
	adjustment_revenue    bigint NOT NULL,
	adjustment_rebates    bigint NOT NULL,
	adjustment_service    bigint NOT NULL,
	tier                  text   NOT NULL,
	eligible_tier         text   NOT NULL,
	certified_engineers   int    NOT NULL,
	segments              text[] NOT NULL,
	quarterly_target      bigint NOT NULL,
	target_currency       text   NOT NULL,
	scorecard_credited    bigint NOT NULL,
	unmet                 text[] NOT NULL,
	current_tier          text   NOT NULL,
	scorecard_currency    text   NOT NULL,
	position              bigint NOT NULL,
	approved              boolean NOT NULL,
	approved_rebates      bigint NOT NULL,
	paid                  bigint NOT NULL,
	outside_commitment    int    NOT NULL,
	PRIMARY KEY (partner_id, quarter, currency)
);
CREATE TABLE payouts (
	position     bigint NOT NULL PRIMARY KEY,
	partner_id   text   NOT NULL,
	quarter      text   NOT NULL,
	currency     text   NOT NULL,
	amount_minor bigint NOT NULL,
	reference    text   NOT NULL,
	paid_on      text   NOT NULL,
	recorded_by  text   NOT NULL,
	event_id     text   NOT NULL
);
CREATE TABLE revenue_mix (
	quarter            text   NOT NULL,
	currency           text   NOT NULL,
	direct_minor       bigint NOT NULL,
	indirect_minor     bigint NOT NULL,
	indirect_share_bps bigint NOT NULL,
	adjustment_direct_minor   bigint NOT NULL,
	adjustment_indirect_minor bigint NOT NULL,
	position           bigint NOT NULL,
	PRIMARY KEY (quarter, currency)
);
CREATE TABLE overflowed_totals (
	currency text PRIMARY KEY
);
CREATE TABLE registrations (
	deal_id         text   PRIMARY KEY,
	partner_id      text   NOT NULL,
	customer        text   NOT NULL,
	customer_key    text   NOT NULL,
	geography       text   NOT NULL,
	segments        text[] NOT NULL,
	expected_minor  bigint NOT NULL,
	currency        text   NOT NULL,
	oem_id          text   NOT NULL,
	status          text   NOT NULL,
	registered_on   text   NOT NULL,
	approved_on     text   NOT NULL,
	expires_on      text   NOT NULL,
	extensions      int    NOT NULL,
	conflicts       text[] NOT NULL,
	overridden      boolean NOT NULL,
	reason          text   NOT NULL,
	policy_version  int    NOT NULL,
	position        bigint NOT NULL,
	size_band       text   NOT NULL,
	outside_commitment text[] NOT NULL
);
` + stateDDL

// Indexes returns the indexes only readers need (runner.Indexer): a rebuild
// creates them after loading the tables.
func (*Projection) Indexes() []string {
	return []string{
		"ALTER TABLE ledger ADD PRIMARY KEY (position, seq)",
		"CREATE INDEX ledger_line ON ledger (oem_id, invoice_number, line)",
		"CREATE INDEX ledger_quarter_partner ON ledger (quarter, partner_id)",
		"CREATE INDEX exceptions_status ON exceptions (status)",
		"CREATE UNIQUE INDEX exceptions_id ON exceptions (exception_id)",
		"CREATE INDEX statements_quarter ON statements (quarter)",
		"CREATE INDEX registrations_partner ON registrations (partner_id, status)",
		// The scheduler's due expiries (few among many deals), in its order.
		"CREATE INDEX registrations_due ON registrations (expires_on, deal_id) WHERE status IN ('approved', 'won') AND expires_on <> ''",
	}
}

// Setup creates the tables.
func (*Projection) Setup(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, ddl); err != nil {
		return fmt.Errorf("attribution: create tables: %w", err)
	}
	return nil
}

// State is the projection's state: the folded program's core and the
// working set of the batch being applied.
type State struct {
	program *domain.Program
	stream  *ledgerCopy // the build's ledger rows (StartStream); nil: each batch copies its own
	// overlay holds the records the last Fold changed, whose write may be in
	// flight (nil after Apply, whose writes commit with the batch).
	overlay *domain.Overlay
}

// StartStream sends the ledger rows of the batches that follow into one COPY
// on tx (runner.Streamer: a build, whose ledger nothing reads before it ends).
func (s *State) StartStream(ctx context.Context, tx pgx.Tx) {
	s.stream = startLedgerCopy(ctx, tx)
}

// EndStream ends the COPY StartStream began: it completes it when err is nil
// and aborts it with err otherwise.
func (s *State) EndStream(err error) error {
	c := s.stream
	s.stream = nil
	if c == nil {
		return nil
	}
	if err != nil {
		c.abort(err)
		return nil
	}
	return c.finish()
}

type stmtKey struct{ partner, quarter, currency string }

type stmtDelta struct {
	partner, currency              string
	quarter                        domain.Quarter
	position                       int64 // last event that touched the row
	scorecard                      domain.Scorecard
	revenue, rebates, service      int64
	adjRevenue, adjRebates, adjSvc int64
}

// add adds credit c to its column of the statement, overflow-checked (the
// table's own sum is checked by Postgres: bigint out of range).
func (d *stmtDelta) add(c domain.Credit) error {
	var sum *int64
	switch {
	case c.Kind == domain.CreditRevenue && c.Adjustment:
		sum = &d.adjRevenue
	case c.Kind == domain.CreditRevenue:
		sum = &d.revenue
	case c.Kind == domain.CreditRebate && c.Adjustment:
		sum = &d.adjRebates
	case c.Kind == domain.CreditRebate:
		sum = &d.rebates
	case c.Kind == domain.CreditService && c.Adjustment:
		sum = &d.adjSvc
	default:
		sum = &d.service
	}
	v, err := domain.AddAmounts(*sum, c.Amount.Amount)
	if err != nil {
		return fmt.Errorf("statement of partner %s in %s %s: %w", c.PartnerID, c.Quarter, c.Amount.Currency, err)
	}
	*sum = v
	return nil
}

// lifecycleStep is a statement approval or payout of the batch.
type lifecycleStep struct {
	position int64
	eventID  string
	approved *domain.StatementApproved
	payout   *domain.PayoutRecorded
}

// writeLifecycle records approvals and payouts after the batch's statement sums: an
// approval takes the statement's rebates as they stand (the domain books nothing more into
// an approved statement, so they equal the sums at the approval), a payout adds to paid.
func writeLifecycle(ctx context.Context, tx pgx.Tx, steps []lifecycleStep) error {
	for _, s := range steps {
		if a := s.approved; a != nil {
			if _, err := tx.Exec(ctx, `UPDATE statements SET approved = true, approved_rebates = rebates + adjustment_rebates
				WHERE partner_id = $1 AND quarter = $2`, a.PartnerID, a.Quarter.String()); err != nil {
				return fmt.Errorf("approve statement %s %s: %w", a.PartnerID, a.Quarter, err)
			}
			continue
		}
		p := s.payout
		if _, err := tx.Exec(ctx, `UPDATE statements SET paid = paid + $4 WHERE partner_id = $1 AND quarter = $2 AND currency = $3`,
			p.PartnerID, p.Quarter.String(), p.Amount.Currency, p.Amount.Amount); err != nil {
			return fmt.Errorf("payout of %s %s: %w", p.PartnerID, p.Quarter, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO payouts (position, partner_id, quarter, currency, amount_minor, reference, paid_on,
			recorded_by, event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, s.position, p.PartnerID, p.Quarter.String(),
			p.Amount.Currency, p.Amount.Amount, p.Reference, p.PaidOn.String(), p.By, s.eventID); err != nil {
			return fmt.Errorf("payout of %s %s: %w", p.PartnerID, p.Quarter, err)
		}
	}
	return nil
}

var ledgerColumns = []string{"position", "seq", "oem_id", "invoice_number", "revision", "line", "kind", "partner_id",
	"registration_id", "customer", "segment", "quarter", "adjustment", "adjusts_quarter", "amount_minor", "currency",
	"policy_version", "reason", "event_ids", "base_minor", "rate_bps", "returned_minor", "returned_before_minor"}

func quarterText(q domain.Quarter) string {
	if q.IsZero() {
		return ""
	}
	return q.String()
}

func dateText(d domain.Date) string {
	if d == (domain.Date{}) {
		return ""
	}
	return d.String()
}

func segmentStrings(s []domain.Segment) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = string(x)
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedStmtKeys(m map[stmtKey]*stmtDelta) []stmtKey {
	out := make([]stmtKey, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return strings.Compare(a.partner+"\x00"+a.quarter+"\x00"+a.currency, b.partner+"\x00"+b.quarter+"\x00"+b.currency) < 0
	})
	return out
}
