package ingest_test

import (
	"context"
	"os"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/consumers/ingest"
	"dealcredit/consumers/oemfeed"
	"dealcredit/eventstore/mirror"
	"dealcredit/internal/testkit/benchkit"
)

// BenchmarkIngest measures end-to-end ingest of invoices already in
// JetStream (3 lines each, plus 10% duplicates republished without
// Nats-Msg-Id), and in the same run the limits: raw JetStream fetch+ack of
// the same messages, COPY of the same rows into Postgres, and the event
// store alone appending the same invoices (decoded beforehand) in commits of
// the consumer's size into a fresh database. It ends with the ratios:
// ingest's invoices/s as a percentage of COPY's rows/s (pct_copy) and of
// the store alone (pct_store_only), its messages/s of the raw fetch+ack's
// (pct_fetchack), and the store alone's of COPY (store_only_pct_copy). The size is
// DEALCREDIT_BENCH_INVOICES (default 200000). With DEALCREDIT_BENCH_MIRROR=1
// a relay copies the log into DEALCREDIT_EVENTS meanwhile and ingest
// acknowledges only what is mirrored (Options.Mirrored), as in the daemon.
// With DEALCREDIT_BENCH_LIMITS=0 only ingest runs;
// DEALCREDIT_BENCH_CPUPROFILE names a file for the CPU profile of the
// ingest phase alone (publishing and the limits left out). It
// also reports the CPU time per invoice of this process (the consumer and the
// embedded NATS server) and of the Postgres backends, for ingest and for the
// store alone.
func BenchmarkIngest(b *testing.B) {
	n := 200000
	if s := os.Getenv("DEALCREDIT_BENCH_INVOICES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	limits := os.Getenv("DEALCREDIT_BENCH_LIMITS") != "0"
	e := mustEnv(b)
	_, js := e.connect(b)
	ctx := context.Background()
	feed := oemfeed.GenerateMessages(oemfeed.GenOptions{Seed: 1, Invoices: n, OEMs: []string{"hp"}, Lines: 3})
	reg := prometheus.NewRegistry()
	var opts ingest.Options
	if os.Getenv("DEALCREDIT_BENCH_MIRROR") == "1" {
		relay, err := mirror.NewRelay(e.store, e.pool, js, mirror.RelayOptions{})
		if err != nil {
			b.Fatal(err)
		}
		rctx, stopRelay := context.WithCancel(ctx)
		relayDone := make(chan error, 1)
		go func() { relayDone <- relay.Run(rctx) }()
		defer func() { stopRelay(); <-relayDone }()
		opts.Mirrored = mirror.NewWatermark(js)
	}
	c, _ := e.consumer(b, reg, opts, "hp")
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "RAW", Subjects: []string{"raw.invoices"}, Storage: jetstream.FileStorage}); err != nil {
		b.Fatal(err)
	}
	// Publish: every invoice once with its id, 10% again without (duplicates
	// only Postgres can absorb), and the same to the RAW stream.
	var futures []jetstream.PubAckFuture
	wait := func() {
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				b.Fatal(err)
			}
		}
		futures = futures[:0]
	}
	pub := func(subject string, body []byte, id string) {
		var opts []jetstream.PublishOpt
		if id != "" {
			opts = append(opts, jetstream.WithMsgID(id))
		}
		f, err := js.PublishAsync(subject, body, opts...)
		if err != nil {
			b.Fatal(err)
		}
		futures = append(futures, f)
		if len(futures) >= 4000 {
			wait()
		}
	}
	total := 0
	for i, g := range feed {
		pub("oem.hp.invoices", g.Body, oemfeed.MsgID("hp", g.Message.InvoiceNumber, g.Message.Revision))
		total++
		if limits {
			pub("raw.invoices", g.Body, "")
		}
		if i%10 == 0 {
			pub("oem.hp.invoices", g.Body, "")
			total++
			if limits {
				pub("raw.invoices", g.Body, "")
			}
		}
	}
	wait()

	b.ResetTimer()
	cpu, err := benchkit.StartCPU(ctx, e.pool)
	if err != nil {
		b.Fatal(err)
	}
	stopProfile := profile(b, os.Getenv("DEALCREDIT_BENCH_CPUPROFILE"))
	start := time.Now()
	stop := run(b, c)
	for !drained(b, js, "hp") {
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	elapsed := time.Since(start)
	goCPU, pgCPU, err := cpu()
	if err != nil {
		b.Fatal(err)
	}
	stopProfile()
	if err := stop(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	var stored int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE type = 'invoice.received'`).Scan(&stored); err != nil {
		b.Fatal(err)
	}
	if stored != len(feed) {
		b.Fatalf("stored %d invoices, want %d", stored, len(feed))
	}
	rate := float64(len(feed)) / elapsed.Seconds()
	b.ReportMetric(rate, "invoices/s")
	b.ReportMetric(float64(3*len(feed))/elapsed.Seconds(), "lines/s")
	b.ReportMetric(float64(total)/elapsed.Seconds(), "msgs/s")
	// CPU per invoice of this process (consumer, embedded NATS server) and of
	// the Postgres backends: the work itself, steadier than the rate on a
	// shared machine.
	b.ReportMetric(goCPU.Seconds()*1e6/float64(len(feed)), "go_cpu_us/invoice")
	b.ReportMetric(pgCPU.Seconds()*1e6/float64(len(feed)), "pg_cpu_us/invoice")
	if mfs, err := reg.Gather(); err == nil {
		for _, mf := range mfs {
			if h := mf.GetMetric()[0].GetHistogram(); h != nil && h.GetSampleCount() > 0 {
				switch mf.GetName() {
				case "dealcredit_ingest_batch_size":
					b.ReportMetric(h.GetSampleSum()/float64(h.GetSampleCount()), "mean_batch")
				case "dealcredit_ingest_mirror_wait_seconds":
					b.ReportMetric(1000*h.GetSampleSum()/float64(h.GetSampleCount()), "mean_mirror_wait_ms")
				case "dealcredit_ingest_commit_duration_seconds":
					b.ReportMetric(1000*h.GetSampleSum()/float64(h.GetSampleCount()), "mean_commit_ms")
				}
			}
		}
	}

	if mfs, err := e.storeReg.Gather(); err == nil {
		for _, mf := range mfs {
			switch mf.GetName() {
			case "dealcredit_eventstore_append_fast_path_total":
				for _, m := range mf.GetMetric() {
					b.Logf("store append path %s: %v transactions", m.GetLabel()[0].GetValue(), m.GetCounter().GetValue())
				}
			case "dealcredit_eventstore_append_transaction_seconds":
				// Near 100: the store's writer, not the consumer, bounds the rate.
				h := mf.GetMetric()[0].GetHistogram()
				b.ReportMetric(100*h.GetSampleSum()/elapsed.Seconds(), "store_writer_busy_pct")
				if h.GetSampleCount() > 0 {
					b.ReportMetric(1000*h.GetSampleSum()/float64(h.GetSampleCount()), "store_tx_ms")
				}
			}
		}
	}

	if !limits {
		return
	}
	ingestLimits(b, js, e.pool, feed, total, rate)
}

// profile writes a CPU profile to path until the returned function is
// called; an empty path profiles nothing.
func profile(b *testing.B, path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// ingestLimits measures and reports the limits of BenchmarkIngest and
// ingest's rate next to them.
func ingestLimits(b *testing.B, js jetstream.JetStream, pool *pgxpool.Pool, feed []oemfeed.Generated, total int, rate float64) {
	ctx := context.Background()
	// Limit 1: raw fetch+ack of the same messages, no Postgres.
	rc, err := js.CreateOrUpdateConsumer(ctx, "RAW", jetstream.ConsumerConfig{Durable: "raw", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 4000})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for got := 0; got < total; {
		batch, err := rc.Fetch(500, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			b.Fatal(err)
		}
		for m := range batch.Messages() {
			_ = m.Ack()
			got++
		}
	}
	fetchAck := float64(total) / time.Since(start).Seconds()
	b.ReportMetric(fetchAck, "fetchack_msgs/s")

	// Limit 2: COPY of the same rows (one per invoice) into Postgres.
	if _, err := pool.Exec(ctx, `CREATE TABLE copy_bench (id uuid, stream text, data json)`); err != nil {
		b.Fatal(err)
	}
	rows := make([][]any, len(feed))
	for i, g := range feed {
		rows[i] = []any{uuid.New(), "invoice-hp-" + g.Message.InvoiceNumber, string(g.Body)}
	}
	start = time.Now()
	for i := 0; i < len(rows); i += 5000 {
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"copy_bench"}, []string{"id", "stream", "data"}, pgx.CopyFromRows(rows[i:min(i+5000, len(rows))])); err != nil {
			b.Fatal(err)
		}
	}
	copyRate := float64(len(rows)) / time.Since(start).Seconds()
	b.ReportMetric(copyRate, "copy_rows/s")

	// Limit 3: the event store alone, same invoices, same commit size.
	bodies := make([][]byte, len(feed))
	for i, g := range feed {
		bodies[i] = g.Body
	}
	units, err := ingest.InvoiceUnits("hp", bodies)
	if err != nil {
		b.Fatal(err)
	}
	e2 := mustEnv(b)
	commit := 4 * 500 // Options.CommitMessages' default
	cpu, err := benchkit.StartCPU(ctx, e2.pool)
	if err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	for i := 0; i < len(units); i += commit {
		res, err := e2.store.AppendEach(ctx, units[i:min(i+commit, len(units))])
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	storeOnly := float64(len(units)) / time.Since(start).Seconds()
	goCPU, pgCPU, err := cpu()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(storeOnly, "store_only_invoices/s")
	b.ReportMetric(goCPU.Seconds()*1e6/float64(len(units)), "store_only_go_cpu_us/invoice")
	b.ReportMetric(pgCPU.Seconds()*1e6/float64(len(units)), "store_only_pg_cpu_us/invoice")

	// Each figure next to its limits of the same run.
	b.ReportMetric(100*rate/copyRate, "pct_copy")
	b.ReportMetric(100*rate/storeOnly, "pct_store_only")
	b.ReportMetric(100*float64(total)/float64(len(feed))*rate/fetchAck, "pct_fetchack")
	b.ReportMetric(100*storeOnly/copyRate, "store_only_pct_copy")
}
