package attribution

import (
	"context"
	"errors"
	"fmt"
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
// form). An invoice is found by its index keys (customer key, domain,
// registration, credited partners) and its date when a late fact
// re-attributes its lines. They are not read models: finance reads the
// tables of Tables().
const stateDDL = `
CREATE TABLE state_program (
	id   int  PRIMARY KEY CHECK (id = 1),
	core bytea NOT NULL
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
	oem_id       text   NOT NULL,
	number       text   NOT NULL,
	keys         text[] NOT NULL,
	invoice_date text   NOT NULL,
	data         bytea  NOT NULL,
	PRIMARY KEY (oem_id, number)
);
CREATE INDEX state_invoices_keys ON state_invoices USING gin (keys);
CREATE INDEX state_invoices_date ON state_invoices (invoice_date) WHERE invoice_date <> '';
CREATE TABLE state_exceptions (
	oem_id text  NOT NULL,
	number text  NOT NULL,
	line   int   NOT NULL,
	data   bytea NOT NULL,
	PRIMARY KEY (oem_id, number, line)
);
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
	var c domain.CoreRecord
	if err := decodeRecord(core, &c); err != nil {
		return nil, fmt.Errorf("attribution: load state: %w", err)
	}
	return &State{program: domain.RestoreProgram(c)}, nil
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
		"currency", "status", "tried", "claimed_by", "event_ids", "position", "exception_id", "quarter", "customer_key", "partner_id",
		"reason", "decided_by", "credit_memo"},
	"statements": {"partner_id", "quarter", "currency", "credited_revenue", "rebates", "service_credit", "adjustment_revenue",
		"adjustment_rebates", "adjustment_service", "tier", "eligible_tier", "certified_engineers", "segments", "quarterly_target",
		"target_currency", "scorecard_credited", "unmet", "current_tier", "scorecard_currency", "position",
		"approved", "approved_rebates", "paid", // the lifecycle columns: set by writeLifecycle, never by the merge
		"outside_commitment"},
	"revenue_mix": {"quarter", "currency", "direct_minor", "indirect_minor", "indirect_share_bps", "adjustment_direct_minor",
		"adjustment_indirect_minor", "position"},
	"registrations": {"deal_id", "partner_id", "customer", "customer_key", "geography", "segments", "expected_minor", "currency",
		"oem_id", "status", "registered_on", "approved_on", "expires_on", "extensions", "conflicts", "overridden", "reason",
		"policy_version", "position", "size_band", "outside_commitment"},
	"state_program":    {"id", "core"},
	"state_deals":      {"deal_id", "customer_key", "domain", "approved_on", "expires_on", "data"},
	"state_invoices":   {"oem_id", "number", "keys", "invoice_date", "data"},
	"state_exceptions": {"oem_id", "number", "line", "data"},
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

// encodeChunk is the size of the buffers the stored forms of a batch are
// encoded into.
const encodeChunk = 64 << 10

// storedWrites returns the writes of what the program evicted and of its
// core, each record in its stored form (records.go): new records are copied,
// changed ones merged.
func storedWrites(st domain.Stored, core domain.CoreRecord) ([]upsert, error) {
	var newDeals, deals, newInvs, invs, newExcs, excs [][]any
	// The batch's encodings share buffers of encodeChunk bytes: a record is
	// appended to the current one and a new one starts when it is nearly full
	// (a record that outgrows it is copied alone, never the ones before it).
	var buf []byte
	encode := func(enc func([]byte) ([]byte, error)) ([]byte, error) {
		if cap(buf)-len(buf) < encodeChunk/16 {
			buf = make([]byte, 0, encodeChunk)
		}
		b, err := enc(buf)
		if err != nil {
			return nil, err
		}
		data := b[len(buf):len(b):len(b)]
		buf = b
		return data, nil
	}
	for i := range st.Deals {
		d := &st.Deals[i]
		data, err := encode(func(b []byte) ([]byte, error) { return encodeRecord(b, &d.Record) })
		if err != nil {
			return nil, fmt.Errorf("deal %s: %w", d.ID, err)
		}
		var approved any // NULL: no approval
		if d.Approved {
			approved = d.ApprovedOn.String()
		}
		row := []any{d.ID, d.CustomerKey, d.Domain, approved, d.ExpiresOn.String(), data}
		if d.New {
			newDeals = append(newDeals, row)
		} else {
			deals = append(deals, row)
		}
	}
	for i := range st.Invoices {
		v := &st.Invoices[i]
		data, err := encode(func(b []byte) ([]byte, error) { return encodeRecord(b, &v.Record) })
		if err != nil {
			return nil, fmt.Errorf("invoice %s %s: %w", v.OEMID, v.Number, err)
		}
		row := []any{v.OEMID, v.Number, nonNil(v.Keys), dateText(v.Date), data}
		if v.New {
			newInvs = append(newInvs, row)
		} else {
			invs = append(invs, row)
		}
	}
	for i := range st.Exceptions {
		e := &st.Exceptions[i]
		data, err := encode(func(b []byte) ([]byte, error) { return encodeRecord(b, &e.Exception) })
		if err != nil {
			return nil, fmt.Errorf("exception %s %s line %d: %w", e.OEMID, e.Number, e.Line, err)
		}
		row := []any{e.OEMID, e.Number, int32(e.Line), data}
		if e.New {
			newExcs = append(newExcs, row)
		} else {
			excs = append(excs, row)
		}
	}
	coreData, err := encodeRecord(nil, &core)
	if err != nil {
		return nil, fmt.Errorf("program core: %w", err)
	}
	return []upsert{
		{"state_deals", newDeals, ""},
		{"state_deals", deals, `ON CONFLICT (deal_id) DO UPDATE SET customer_key = EXCLUDED.customer_key, domain = EXCLUDED.domain,
			approved_on = EXCLUDED.approved_on, expires_on = EXCLUDED.expires_on, data = EXCLUDED.data`},
		{"state_invoices", newInvs, ""},
		{"state_invoices", invs, `ON CONFLICT (oem_id, number) DO UPDATE SET keys = EXCLUDED.keys, invoice_date = EXCLUDED.invoice_date,
			data = EXCLUDED.data`},
		{"state_exceptions", newExcs, ""},
		{"state_exceptions", excs, `ON CONFLICT (oem_id, number, line) DO UPDATE SET data = EXCLUDED.data`},
		{"state_program", [][]any{{int32(1), coreData}}, `ON CONFLICT (id) DO UPDATE SET core = EXCLUDED.core`},
	}, nil
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

func dayKeys(ks []domain.DayKey) (keys, days, untils []string) {
	seen := make(map[domain.DayKey]struct{}, len(ks))
	for _, k := range ks {
		if _, ok := seen[k]; ok {
			continue
		}
		seen[k] = struct{}{}
		until := k.Until
		if until.Before(k.Day) {
			until = k.Day
		}
		keys, days, untils = append(keys, k.Key), append(days, k.Day.String()), append(untils, until.String())
	}
	return nonNil(keys), nonNil(days), nonNil(untils)
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
