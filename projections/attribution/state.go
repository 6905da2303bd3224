package attribution

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"dealcredit/domain"
	"dealcredit/projections/runner"

	"github.com/jackc/pgx/v5"
)

// The fold's state lives in the projection's schema beside the read models,
// written in the same transaction as the batch and the checkpoint, so a
// restart loads it instead of refolding the log and memory stays bounded by
// one batch: state_program holds the small core of domain.Program (partners,
// seats, policies, quarters, field reps, totals), the other tables its
// per-deal, per-invoice and per-open-exception records (domain's stored
// form). They are not read models: finance reads the tables of Tables().
const stateDDL = `
CREATE TABLE state_program (
	id   int  PRIMARY KEY CHECK (id = 1),
	core json NOT NULL
);
CREATE TABLE state_deals (
	deal_id      text PRIMARY KEY,
	customer_key text NOT NULL,
	domain       text NOT NULL,
	approved_on  text,
	expires_on   text NOT NULL,
	data         bytea NOT NULL
);
CREATE INDEX state_deals_key ON state_deals (customer_key) WHERE approved_on IS NOT NULL;
CREATE INDEX state_deals_domain ON state_deals (domain) WHERE approved_on IS NOT NULL AND domain <> '';
CREATE TABLE state_invoices (
	oem_id text  NOT NULL,
	number text  NOT NULL,
	data   bytea NOT NULL,
	PRIMARY KEY (oem_id, number)
);
CREATE TABLE state_exceptions (
	oem_id       text  NOT NULL,
	number       text  NOT NULL,
	line         int   NOT NULL,
	customer_key text  NOT NULL,
	domain       text  NOT NULL,
	data         bytea NOT NULL,
	PRIMARY KEY (oem_id, number, line)
);
CREATE INDEX state_exceptions_key ON state_exceptions (customer_key);
CREATE INDEX state_exceptions_domain ON state_exceptions (domain) WHERE domain <> '';
`

// LoadState returns the program the schema's state tables hold (an empty one
// for new tables); its working set is empty.
func (*Projection) LoadState(ctx context.Context, tx pgx.Tx) (runner.State, error) {
	var core []byte
	err := tx.QueryRow(ctx, "SELECT core FROM state_program").Scan(&core)
	if errors.Is(err, pgx.ErrNoRows) {
		return &State{program: domain.NewSpillingProgram()}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("attribution: load state: %w", err)
	}
	p, err := domain.UnmarshalProgram(core)
	if err != nil {
		return nil, fmt.Errorf("attribution: load state: %w", err)
	}
	return &State{program: p}, nil
}

// loadWanted reads the stored records w names and hands each to load as it
// arrives (so decoding overlaps the query): the deals, then the invoices,
// then the open exceptions (of the invoices found and of the customers in w),
// then the invoices of those exceptions not yet read.
func loadWanted(ctx context.Context, tx pgx.Tx, w domain.Wants, load func(domain.Stored) error) error {
	byKey, byKeyDay := dayKeys(w.DealsByKey)
	byDom, byDomDay := dayKeys(w.DealsByDomain)
	rows, err := tx.Query(ctx, `
		SELECT deal_id, data FROM state_deals WHERE deal_id = ANY($1::text[])
		UNION ALL
		SELECT d.deal_id, d.data FROM unnest($2::text[], $3::text[]) AS w(k, day)
			JOIN state_deals d ON d.customer_key = w.k AND d.approved_on IS NOT NULL AND d.approved_on <= w.day AND d.expires_on >= w.day
		UNION ALL
		SELECT d.deal_id, d.data FROM unnest($4::text[], $5::text[]) AS w(k, day)
			JOIN state_deals d ON d.domain = w.k AND d.domain <> '' AND d.approved_on IS NOT NULL AND d.approved_on <= w.day AND d.expires_on >= w.day`,
		unique(w.DealIDs), byKey, byKeyDay, byDom, byDomDay)
	if err != nil {
		return fmt.Errorf("attribution: load deals: %w", err)
	}
	var d domain.StoredDeal
	if _, err := pgx.ForEachRow(rows, []any{&d.ID, &d.Data}, func() error {
		// A deal matched by id, key and domain comes up to three times; the
		// program keeps the first.
		return load(domain.Stored{Deals: []domain.StoredDeal{{ID: d.ID, Data: d.Data}}})
	}); err != nil {
		return fmt.Errorf("attribution: load deals: %w", err)
	}

	found, err := loadInvoices(ctx, tx, w.Invoices, load)
	if err != nil {
		return err
	}
	// Only an invoice already stored can have open exceptions.
	oems, numbers := invoiceRefs(found)
	rows, err = tx.Query(ctx, `
		SELECT oem_id, number, line, data FROM state_exceptions WHERE (oem_id, number, line) IN (
			SELECT e.oem_id, e.number, e.line FROM unnest($1::text[], $2::text[]) AS w(oem, num)
				JOIN state_exceptions e ON e.oem_id = w.oem AND e.number = w.num
			UNION
			SELECT oem_id, number, line FROM state_exceptions WHERE customer_key = ANY($3::text[])
			UNION
			SELECT oem_id, number, line FROM state_exceptions WHERE domain <> '' AND domain = ANY($4::text[])
			UNION
			SELECT e.oem_id, e.number, e.line FROM state_deals d
				JOIN state_exceptions e ON e.customer_key = d.customer_key WHERE d.deal_id = ANY($5::text[])
			UNION
			SELECT e.oem_id, e.number, e.line FROM state_deals d
				JOIN state_exceptions e ON e.domain = d.domain AND d.domain <> '' WHERE d.deal_id = ANY($5::text[]))`,
		oems, numbers, unique(w.ExceptionsByKey), unique(w.ExceptionsByDomain), unique(w.ExceptionsOfDeals))
	if err != nil {
		return fmt.Errorf("attribution: load exceptions: %w", err)
	}
	have := make(map[domain.InvoiceRef]bool, len(found))
	for _, r := range found {
		have[r] = true
	}
	var more []domain.InvoiceRef // the invoices of the exceptions a claim may resolve
	var e domain.StoredException
	if _, err := pgx.ForEachRow(rows, []any{&e.OEMID, &e.Number, &e.Line, &e.Data}, func() error {
		if !have[e.InvoiceRef] {
			have[e.InvoiceRef] = true
			more = append(more, e.InvoiceRef)
		}
		return load(domain.Stored{Exceptions: []domain.StoredException{{ExceptionRef: e.ExceptionRef, Data: e.Data}}})
	}); err != nil {
		return fmt.Errorf("attribution: load exceptions: %w", err)
	}
	if len(more) > 0 {
		if _, err := loadInvoices(ctx, tx, more, load); err != nil {
			return err
		}
	}
	return nil
}

// loadInvoices hands the stored invoices and credit memos refs names to load
// (one index scan per OEM) and returns the refs it found.
func loadInvoices(ctx context.Context, tx pgx.Tx, refs []domain.InvoiceRef, load func(domain.Stored) error) ([]domain.InvoiceRef, error) {
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
		rows, err := tx.Query(ctx, `SELECT number, data FROM state_invoices WHERE oem_id = $1 AND number = ANY($2::text[])`,
			oem, unique(byOEM[oem]))
		if err != nil {
			return found, fmt.Errorf("attribution: load invoices of %s: %w", oem, err)
		}
		var i domain.StoredInvoice
		if _, err := pgx.ForEachRow(rows, []any{&i.Number, &i.Data}, func() error {
			ref := domain.InvoiceRef{OEMID: oem, Number: i.Number}
			found = append(found, ref)
			return load(domain.Stored{Invoices: []domain.StoredInvoice{{InvoiceRef: ref, Data: i.Data}}})
		}); err != nil {
			return found, fmt.Errorf("attribution: load invoices of %s: %w", oem, err)
		}
	}
	return found, nil
}

// upsert is a set of rows for a table: copied straight into it when
// onConflict is empty (rows the table cannot hold yet), otherwise copied into
// a temporary staging table and merged with one INSERT ... SELECT ...
// onConflict (no two rows may share a key).
type upsert struct {
	table      string
	rows       [][]any
	onConflict string
}

// columns lists each written table's columns in table order.
var columns = map[string][]string{
	"exceptions": {"oem_id", "invoice_number", "line", "revision", "customer", "segment", "invoice_date", "amount_minor",
		"currency", "status", "tried", "claimed_by", "event_ids", "position"},
	"statements": {"partner_id", "quarter", "currency", "credited_revenue", "rebates", "service_credit", "adjustment_revenue",
		"adjustment_rebates", "adjustment_service", "tier", "eligible_tier", "certified_engineers", "segments", "quarterly_target",
		"target_currency", "scorecard_credited", "unmet", "position"},
	"revenue_mix": {"quarter", "currency", "direct_minor", "indirect_minor", "indirect_share_bps", "position"},
	"registrations": {"deal_id", "partner_id", "customer", "customer_key", "geography", "segments", "expected_minor", "currency",
		"oem_id", "status", "registered_on", "approved_on", "expires_on", "extensions", "conflicts", "overridden", "reason",
		"policy_version", "position"},
	"state_program":    {"id", "core"},
	"state_deals":      {"deal_id", "customer_key", "domain", "approved_on", "expires_on", "data"},
	"state_invoices":   {"oem_id", "number", "data"},
	"state_exceptions": {"oem_id", "number", "line", "customer_key", "domain", "data"},
}

// smallSet is the size up to which a set is written with one INSERT per row,
// all of them in one pipelined round trip (a live runner's batches), rather
// than through COPY and a staging table (a rebuild's).
const smallSet = 32

// writeUpserts writes the sets: large ones one by one through COPY, then the
// small ones in one round trip.
func writeUpserts(ctx context.Context, tx pgx.Tx, sets []upsert) error {
	small := &pgx.Batch{}
	for _, u := range sets {
		cols := columns[u.table]
		switch {
		case len(u.rows) == 0:
		case len(u.rows) <= smallSet:
			params := make([]string, len(cols))
			for i := range cols {
				params[i] = "$" + strconv.Itoa(i+1)
			}
			q := "INSERT INTO " + u.table + " (" + strings.Join(cols, ", ") + ") VALUES (" + strings.Join(params, ", ") + ") " + u.onConflict
			for _, row := range u.rows {
				small.Queue(q, row...)
			}
		case u.onConflict == "":
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{u.table}, cols, pgx.CopyFromRows(u.rows)); err != nil {
				return fmt.Errorf("copy into %s: %w", u.table, err)
			}
		default:
			if err := stageAndMerge(ctx, tx, u); err != nil {
				return err
			}
		}
	}
	if small.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, small).Close(); err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	return nil
}

// stageAndMerge copies u's rows into a temporary table and merges them into
// u.table with one INSERT ... SELECT.
func stageAndMerge(ctx context.Context, tx pgx.Tx, u upsert) error {
	stage := "stage_" + u.table
	// A temporary table lives as long as the connection and is empty
	// between uses: it is truncated after the merge, and rows copied by a
	// transaction that fails go with it.
	if _, err := tx.Exec(ctx, "CREATE TEMP TABLE IF NOT EXISTS "+stage+" (LIKE "+u.table+")"); err != nil {
		return fmt.Errorf("stage %s: %w", u.table, err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{stage}, columns[u.table], pgx.CopyFromRows(u.rows)); err != nil {
		return fmt.Errorf("stage %s: %w", u.table, err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+u.table+" SELECT * FROM "+stage+" "+u.onConflict); err != nil {
		return fmt.Errorf("merge %s: %w", u.table, err)
	}
	if _, err := tx.Exec(ctx, "TRUNCATE "+stage); err != nil {
		return fmt.Errorf("stage %s: %w", u.table, err)
	}
	return nil
}

// deleteClosed deletes the stored exceptions that are no longer open.
func deleteClosed(ctx context.Context, tx pgx.Tx, closed []domain.ExceptionRef) error {
	if len(closed) == 0 {
		return nil
	}
	oems, numbers, lines := make([]string, len(closed)), make([]string, len(closed)), make([]int32, len(closed))
	for i, r := range closed {
		oems[i], numbers[i], lines[i] = r.OEMID, r.Number, int32(r.Line)
	}
	_, err := tx.Exec(ctx, `DELETE FROM state_exceptions e USING unnest($1::text[], $2::text[], $3::int[]) AS w(oem, num, line)
		WHERE e.oem_id = w.oem AND e.number = w.num AND e.line = w.line`, oems, numbers, lines)
	if err != nil {
		return fmt.Errorf("delete closed exceptions: %w", err)
	}
	return nil
}

// storedWrites returns the writes of what the program evicted and of its
// core: new records are copied, changed ones merged.
func storedWrites(st domain.Stored, core []byte) []upsert {
	var newDeals, deals, newInvs, invs, newExcs, excs [][]any
	for _, d := range st.Deals {
		var approved any // NULL: no approval
		if d.Approved {
			approved = d.ApprovedOn.String()
		}
		row := []any{d.ID, d.CustomerKey, d.Domain, approved, d.ExpiresOn.String(), d.Data}
		if d.New {
			newDeals = append(newDeals, row)
		} else {
			deals = append(deals, row)
		}
	}
	for _, v := range st.Invoices {
		row := []any{v.OEMID, v.Number, v.Data}
		if v.New {
			newInvs = append(newInvs, row)
		} else {
			invs = append(invs, row)
		}
	}
	for _, e := range st.Exceptions {
		row := []any{e.OEMID, e.Number, int32(e.Line), e.CustomerKey, e.Domain, e.Data}
		if e.New {
			newExcs = append(newExcs, row)
		} else {
			excs = append(excs, row)
		}
	}
	return []upsert{
		{"state_deals", newDeals, ""},
		{"state_deals", deals, `ON CONFLICT (deal_id) DO UPDATE SET customer_key = EXCLUDED.customer_key, domain = EXCLUDED.domain,
			approved_on = EXCLUDED.approved_on, expires_on = EXCLUDED.expires_on, data = EXCLUDED.data`},
		{"state_invoices", newInvs, ""},
		{"state_invoices", invs, `ON CONFLICT (oem_id, number) DO UPDATE SET data = EXCLUDED.data`},
		{"state_exceptions", newExcs, ""},
		{"state_exceptions", excs, `ON CONFLICT (oem_id, number, line) DO UPDATE SET customer_key = EXCLUDED.customer_key,
			domain = EXCLUDED.domain, data = EXCLUDED.data`},
		{"state_program", [][]any{{int32(1), string(core)}}, `ON CONFLICT (id) DO UPDATE SET core = EXCLUDED.core`},
	}
}

func unique(s []string) []string {
	seen := make(map[string]struct{}, len(s))
	out := make([]string, 0, len(s))
	for _, v := range s {
		if _, ok := seen[v]; !ok {
			seen[v] = struct{}{}
			out = append(out, v)
		}
	}
	return out
}

func dayKeys(ks []domain.DayKey) (keys, days []string) {
	seen := make(map[domain.DayKey]struct{}, len(ks))
	for _, k := range ks {
		if _, ok := seen[k]; ok {
			continue
		}
		seen[k] = struct{}{}
		keys, days = append(keys, k.Key), append(days, k.Day.String())
	}
	return nonNil(keys), nonNil(days)
}

func invoiceRefs(refs []domain.InvoiceRef) (oems, numbers []string) {
	seen := make(map[domain.InvoiceRef]struct{}, len(refs))
	oems, numbers = []string{}, []string{}
	for _, r := range refs {
		if _, ok := seen[r]; ok {
			continue
		}
		seen[r] = struct{}{}
		oems, numbers = append(oems, r.OEMID), append(numbers, r.Number)
	}
	return oems, numbers
}
