package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/consumers/ingest"
	"dealcredit/domain"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/pgdb"
	"dealcredit/internal/testkit/logtest"
	"dealcredit/internal/testkit/natstest"
)

// env is a migrated database, its store and a JetStream server.
type env struct {
	pool     *pgxpool.Pool
	store    *pgstore.Store
	storeReg *prometheus.Registry // the store's metrics
	nats     *natstest.Server
}

func mustEnv(tb testing.TB) *env {
	tb.Helper()
	dsn := logtest.MigratedDatabase(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := pgdb.OpenPool(ctx, dsn)
	if err != nil {
		tb.Fatalf("open pool: %v", err)
	}
	tb.Cleanup(pool.Close)
	reg := prometheus.NewRegistry()
	store, err := pgstore.New(pool, pgstore.Options{Registerer: reg})
	if err != nil {
		tb.Fatalf("new store: %v", err)
	}
	tb.Cleanup(store.Close)
	return &env{pool: pool, store: store, storeReg: reg, nats: natstest.Start(tb)}
}

// connect returns a JetStream client on a new connection closed at cleanup.
func (e *env) connect(tb testing.TB) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(e.nats.URL(), nats.MaxReconnects(-1))
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// consumer returns a provisioned Consumer on its own connection.
func (e *env) consumer(tb testing.TB, reg prometheus.Registerer, opts ingest.Options, oems ...string) (*ingest.Consumer, *nats.Conn) {
	tb.Helper()
	nc, js := e.connect(tb)
	opts.Registerer = reg
	c, err := ingest.New(js, e.store, opts)
	if err != nil {
		tb.Fatalf("new consumer: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, oem := range oems {
		if err := c.Provision(ctx, oem); err != nil {
			tb.Fatalf("provision %s: %v", oem, err)
		}
	}
	return c, nc
}

// run runs c until the test ends; the returned channel yields Run's error.
func run(tb testing.TB, c *ingest.Consumer) (stop func() error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	var err error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-done
		}
		return err
	}
	tb.Cleanup(func() { _ = stop() })
	return stop
}

// invoices returns the stored invoice.received events, checking that each was
// stored with the schema version domain.Encode gave it.
func invoices(tb testing.TB, pool *pgxpool.Pool) []domain.InvoiceReceived {
	tb.Helper()
	_, current, _, err := domain.Encode(domain.InvoiceReceived{})
	if err != nil {
		tb.Fatal(err)
	}
	rows, err := pool.Query(context.Background(), `SELECT data::text, schema_version FROM events WHERE type = 'invoice.received' ORDER BY position`)
	if err != nil {
		tb.Fatalf("query invoices: %v", err)
	}
	defer rows.Close()
	var out []domain.InvoiceReceived
	for rows.Next() {
		var s string
		var version int
		if err := rows.Scan(&s, &version); err != nil {
			tb.Fatal(err)
		}
		if version != current {
			tb.Errorf("invoice stored with schema version %d, want %d (domain.Encode's)", version, current)
		}
		var inv domain.InvoiceReceived
		if err := json.Unmarshal([]byte(s), &inv); err != nil {
			tb.Fatalf("decode stored invoice: %v", err)
		}
		out = append(out, inv)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// rejections returns the stored invoice.rejected events.
func rejections(tb testing.TB, pool *pgxpool.Pool) []domain.InvoiceRejected {
	tb.Helper()
	rows, err := pool.Query(context.Background(), `SELECT data::text FROM events WHERE type = 'invoice.rejected' ORDER BY position`)
	if err != nil {
		tb.Fatalf("query rejections: %v", err)
	}
	defer rows.Close()
	var out []domain.InvoiceRejected
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			tb.Fatal(err)
		}
		var r domain.InvoiceRejected
		if err := json.Unmarshal([]byte(s), &r); err != nil {
			tb.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// dlq reads every message of the dead-letter stream.
func dlq(tb testing.TB, js jetstream.JetStream) []jetstream.Msg {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, ingest.DLQStream)
	if err != nil {
		tb.Fatalf("dlq stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	var out []jetstream.Msg
	for uint64(len(out)) < info.State.Msgs {
		b, err := c.Fetch(int(info.State.Msgs)-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			tb.Fatal(err)
		}
		for m := range b.Messages() {
			out = append(out, m)
		}
		if b.Error() != nil {
			tb.Fatal(b.Error())
		}
	}
	return out
}

// drained reports whether the ingest consumer of every OEM has nothing
// pending or awaiting acknowledgement.
func drained(tb testing.TB, js jetstream.JetStream, oems ...string) bool {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, oem := range oems {
		c, err := js.Consumer(ctx, ingest.StreamName(oem), "dealcredit-ingest")
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		if err != nil || info.NumPending != 0 || info.NumAckPending != 0 {
			return false
		}
	}
	return true
}

// eventually polls cond until it holds or the deadline passes.
func eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

func counter(reg *prometheus.Registry, oem, outcome string) int {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "dealcredit_ingest_messages_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["oem"] == oem && labels["outcome"] == outcome {
				return int(m.GetCounter().GetValue())
			}
		}
	}
	return 0
}

// memoBody is a credit memo for invoice returning qty licences of its line 1.
func memoBody(oem, number, forInvoice string, qty int64) []byte {
	b := strings.Replace(string(body(oem, number, 1, qty)), `"kind":"invoice"`, `"kind":"credit_memo","credit_memo_for":`+strconv.Quote(forInvoice), 1)
	return []byte(b)
}

// withCurrency changes a body's currency.
func withCurrency(b []byte, currency string) []byte {
	return []byte(strings.Replace(string(b), `"currency":"USD"`, `"currency":`+strconv.Quote(currency), 1))
}

func body(oem, number string, revision int, qty int64) []byte {
	return []byte(fmt.Sprintf(`{"schema":"dealcredit.oem_invoice.v1","oem_id":%q,"invoice_number":%q,"revision":%d,"kind":"invoice","invoice_date":"2026-02-14","currency":"USD","customer":{"oem_account_id":"C-1","name":"Acme Corp","country":"US"},"lines":[{"line":1,"sku":"ALT-CMS-100","segment":"client_management","quantity":%d,"unit_price_minor":4500,"amount_minor":%d}]}`,
		oem, number, revision, qty, qty*4500))
}
