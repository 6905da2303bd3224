package attribution

import (
	"context"
	"errors"
	"fmt"

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

// loadWanted reads the stored records w names.
func loadWanted(ctx context.Context, tx pgx.Tx, w domain.Wants) (domain.Stored, error) {
	var st domain.Stored
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
		return st, fmt.Errorf("attribution: load deals: %w", err)
	}
	var d domain.StoredDeal
	if _, err := pgx.ForEachRow(rows, []any{&d.ID, &d.Data}, func() error {
		st.Deals = append(st.Deals, domain.StoredDeal{ID: d.ID, Data: d.Data})
		return nil
	}); err != nil {
		return st, fmt.Errorf("attribution: load deals: %w", err)
	}

	oems, numbers := invoiceRefs(w.Invoices)
	rows, err = tx.Query(ctx, `
		SELECT e.oem_id, e.number, e.line, e.data FROM unnest($1::text[], $2::text[]) AS w(oem, num)
			JOIN state_exceptions e ON e.oem_id = w.oem AND e.number = w.num
		UNION
		SELECT oem_id, number, line, data FROM state_exceptions WHERE customer_key = ANY($3::text[])
		UNION
		SELECT oem_id, number, line, data FROM state_exceptions WHERE domain <> '' AND domain = ANY($4::text[])
		UNION
		SELECT e.oem_id, e.number, e.line, e.data FROM state_deals d
			JOIN state_exceptions e ON e.customer_key = d.customer_key WHERE d.deal_id = ANY($5::text[])
		UNION
		SELECT e.oem_id, e.number, e.line, e.data FROM state_deals d
			JOIN state_exceptions e ON e.domain = d.domain AND d.domain <> '' WHERE d.deal_id = ANY($5::text[])`,
		oems, numbers, unique(w.ExceptionsByKey), unique(w.ExceptionsByDomain), unique(w.ExceptionsOfDeals))
	if err != nil {
		return st, fmt.Errorf("attribution: load exceptions: %w", err)
	}
	var e domain.StoredException
	if _, err := pgx.ForEachRow(rows, []any{&e.OEMID, &e.Number, &e.Line, &e.Data}, func() error {
		st.Exceptions = append(st.Exceptions, domain.StoredException{ExceptionRef: e.ExceptionRef, Data: e.Data})
		return nil
	}); err != nil {
		return st, fmt.Errorf("attribution: load exceptions: %w", err)
	}

	// The invoices asked for and those of the loaded exceptions.
	refs := append([]domain.InvoiceRef(nil), w.Invoices...)
	for _, e := range st.Exceptions {
		refs = append(refs, e.InvoiceRef)
	}
	oems, numbers = invoiceRefs(refs)
	rows, err = tx.Query(ctx, `SELECT i.oem_id, i.number, i.data FROM unnest($1::text[], $2::text[]) AS w(oem, num)
		JOIN state_invoices i ON i.oem_id = w.oem AND i.number = w.num`, oems, numbers)
	if err != nil {
		return st, fmt.Errorf("attribution: load invoices: %w", err)
	}
	var i domain.StoredInvoice
	if _, err := pgx.ForEachRow(rows, []any{&i.OEMID, &i.Number, &i.Data}, func() error {
		st.Invoices = append(st.Invoices, domain.StoredInvoice{InvoiceRef: i.InvoiceRef, Data: i.Data})
		return nil
	}); err != nil {
		return st, fmt.Errorf("attribution: load invoices: %w", err)
	}
	return st, nil
}

// queueStored queues the writes of what the program evicted and of its core.
func queueStored(b *pgx.Batch, st domain.Stored, core []byte) {
	if n := len(st.Deals); n > 0 {
		ids, keys, doms, exp := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		approved, data := make([]*string, n), make([][]byte, n)
		for i, d := range st.Deals {
			ids[i], keys[i], doms[i], exp[i], data[i] = d.ID, d.CustomerKey, d.Domain, d.ExpiresOn.String(), d.Data
			if d.Approved {
				s := d.ApprovedOn.String()
				approved[i] = &s
			}
		}
		b.Queue(`INSERT INTO state_deals SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[])
			ON CONFLICT (deal_id) DO UPDATE SET customer_key = EXCLUDED.customer_key, domain = EXCLUDED.domain,
			approved_on = EXCLUDED.approved_on, expires_on = EXCLUDED.expires_on, data = EXCLUDED.data`,
			ids, keys, doms, approved, exp, data)
	}
	if n := len(st.Invoices); n > 0 {
		oems, numbers, data := make([]string, n), make([]string, n), make([][]byte, n)
		for i, v := range st.Invoices {
			oems[i], numbers[i], data[i] = v.OEMID, v.Number, v.Data
		}
		b.Queue(`INSERT INTO state_invoices SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])
			ON CONFLICT (oem_id, number) DO UPDATE SET data = EXCLUDED.data`, oems, numbers, data)
	}
	if n := len(st.Closed); n > 0 {
		oems, numbers, lines := make([]string, n), make([]string, n), make([]int32, n)
		for i, r := range st.Closed {
			oems[i], numbers[i], lines[i] = r.OEMID, r.Number, int32(r.Line)
		}
		b.Queue(`DELETE FROM state_exceptions e USING unnest($1::text[], $2::text[], $3::int[]) AS w(oem, num, line)
			WHERE e.oem_id = w.oem AND e.number = w.num AND e.line = w.line`, oems, numbers, lines)
	}
	if n := len(st.Exceptions); n > 0 {
		oems, numbers, lines := make([]string, n), make([]string, n), make([]int32, n)
		keys, doms, data := make([]string, n), make([]string, n), make([][]byte, n)
		for i, e := range st.Exceptions {
			oems[i], numbers[i], lines[i], keys[i], doms[i], data[i] = e.OEMID, e.Number, int32(e.Line), e.CustomerKey, e.Domain, e.Data
		}
		b.Queue(`INSERT INTO state_exceptions SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::bytea[])
			ON CONFLICT (oem_id, number, line) DO UPDATE SET customer_key = EXCLUDED.customer_key, domain = EXCLUDED.domain,
			data = EXCLUDED.data`, oems, numbers, lines, keys, doms, data)
	}
	b.Queue(`INSERT INTO state_program VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET core = EXCLUDED.core`, string(core))
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
