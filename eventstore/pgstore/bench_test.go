package pgstore_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/eventstore"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/testkit/benchkit"
)

// benchOps is how many appends each sub-benchmark makes in total (spread
// over the appenders), whatever b.N is: `make bench` runs -benchtime 1x.
// DEALCREDIT_BENCH_OPS overrides it.
func benchOps(tb testing.TB) int {
	n, err := strconv.Atoi(cmp.Or(os.Getenv("DEALCREDIT_BENCH_OPS"), "20000"))
	if err != nil || n < 4 {
		tb.Fatalf("DEALCREDIT_BENCH_OPS: want an integer >= 4 (%v)", err)
	}
	return n
}

// BenchmarkAppend measures the store against the limits of the same
// Postgres measured in the same run, and prints each store figure next to
// its limit: COPY into a plain table first (pct_copy: the store's events/s
// as a percentage of it), then per concurrency one plain INSERT per
// transaction (x_plain: the store's events/s over it; p50_vs_plain: the
// store's median latency over the plain INSERT's) before the store. Each
// workload also reports the CPU time per event of this process and of the
// database's backends (go_cpu_us/event, pg_cpu_us/event) and the load
// average at its start (load1); with pg_stat_statements loaded in the
// server, each store workload logs its statements' execution time per
// event.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	dsn := mustDatabase(b)
	pool := mustBenchPool(b, dsn, 80)
	stmts := newStatementStats(ctx, pool)
	if _, err := pool.Exec(ctx, `CREATE TABLE plain (id bigint PRIMARY KEY, stream_id text NOT NULL, event_id uuid NOT NULL, type text NOT NULL, data json NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	var plainID atomic.Int64
	var copyRate float64
	b.Run("plain-copy", func(b *testing.B) {
		const rows = 100000
		src := make([][]any, rows)
		for i := range src {
			id := plainID.Add(1)
			src[i] = []any{id, fmt.Sprint("plain-", id), uuid.New(), "bench.event", fmt.Sprintf(`{"n":%d}`, id)}
		}
		start := time.Now()
		n, err := pool.CopyFrom(ctx, pgx.Identifier{"plain"}, []string{"id", "stream_id", "event_id", "type", "data"}, pgx.CopyFromRows(src))
		if err != nil || n != rows {
			b.Fatalf("copy: %d, %v", n, err)
		}
		copyRate = rows / time.Since(start).Seconds()
		b.ReportMetric(copyRate, "events/s")
		b.ReportMetric(0, "ns/op")
	})
	// The same limit for rows of the log's own shape: COPY into a table
	// like events (its columns, CHECKs, primary key and both unique
	// indexes; no trigger), with the hashes and metadata an append stores.
	var eventsCopyRate float64
	b.Run("events-copy", func(b *testing.B) {
		eventsCopyRate = copyEventRows(ctx, b, pool, 100000)
	})
	for _, conc := range []int{1, 16, 64} {
		var plain result
		b.Run(fmt.Sprintf("plain-insert-per-tx/clients=%d", conc), func(b *testing.B) {
			plain = run(b, pool, conc, 1, func(ctx context.Context) error {
				tx, err := pool.Begin(ctx)
				if err != nil {
					return err
				}
				defer tx.Rollback(ctx) //nolint:errcheck
				id := plainID.Add(1)
				if _, err := tx.Exec(ctx, `INSERT INTO plain VALUES ($1, $2, $3, 'bench.event', $4)`, id, fmt.Sprint("plain-", id), uuid.New(), fmt.Sprintf(`{"n":%d}`, id)); err != nil {
					return err
				}
				return tx.Commit(ctx)
			})
		})
		for _, size := range []int{1, 5} {
			b.Run(fmt.Sprintf("store/appenders=%d/events=%d", conc, size), func(b *testing.B) {
				reg := prometheus.NewRegistry()
				s := mustStore(b, pool, pgstore.Options{Registerer: reg})
				if v := os.Getenv("DEALCREDIT_BENCH_COPYMIN"); v != "" {
					n, err := strconv.Atoi(v) // for A/B runs: a huge value writes every batch with INSERT
					if err != nil || n < 1 {
						b.Fatalf("DEALCREDIT_BENCH_COPYMIN=%q: want an integer >= 1", v)
					}
					pgstore.SetCopyMin(s, n)
				}
				defer reportWriter(b, reg)
				stmts.reset(b)
				defer stmts.log(b, benchOps(b)/opsDivisor(conc)*size)
				var seq atomic.Int64
				r := run(b, pool, conc, size, func(ctx context.Context) error {
					n := seq.Add(1)
					stream := fmt.Sprintf("bench-%d-%d-%d", conc, size, n%100000)
					evs := make([]eventstore.Event, size)
					for i := range evs {
						evs[i] = eventstore.Event{ID: uuid.New(), Type: "bench.event", SchemaVersion: 1, Data: fmt.Appendf(nil, `{"n":%d,"i":%d}`, n, i)}
					}
					exp := eventstore.NoStream
					if n > 100000 {
						exp = eventstore.Any
					}
					_, err := s.Append(ctx, stream, exp, evs...)
					return err
				})
				if plain.eventsPerSec > 0 {
					b.ReportMetric(r.eventsPerSec/plain.eventsPerSec, "x_plain")
					b.ReportMetric(r.p50/plain.p50, "p50_vs_plain")
				}
				if copyRate > 0 {
					b.ReportMetric(100*r.eventsPerSec/copyRate, "pct_copy")
				}
				if eventsCopyRate > 0 {
					b.ReportMetric(100*r.eventsPerSec/eventsCopyRate, "pct_events_copy")
				}
			})
		}
	}
}

// copyEventRows copies rows records shaped like the benchmark's appends
// into a new table like events and returns the rows per second. Building
// the rows (ids, hashes) is not timed.
func copyEventRows(ctx context.Context, b *testing.B, pool *pgxpool.Pool, rows int) float64 {
	b.Helper()
	if _, err := pool.Exec(ctx, `CREATE TABLE events_copy (LIKE events INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	cols := []string{"position", "stream_id", "stream_version", "event_id", "type", "schema_version", "data", "metadata",
		"occurred_at", "recorded_at", "prev_hash", "hash"}
	now := time.Now().UTC().Truncate(time.Microsecond)
	meta := eventstore.EncodeMetadata(eventstore.Metadata{})
	prev := eventstore.ZeroHash
	src := make([][]any, rows)
	for i := range src {
		rec := eventstore.Record{
			Position: int64(i + 1), StreamID: fmt.Sprint("copy-", i), StreamVersion: 1, ID: uuid.New(),
			Type: "bench.event", SchemaVersion: 1, Data: fmt.Appendf(nil, `{"n":%d,"i":%d}`, i, 0), Metadata: meta,
			OccurredAt: now, RecordedAt: now, PrevHash: prev,
		}
		rec.Hash = eventstore.HashRecord(prev, rec)
		prev = rec.Hash
		src[i] = []any{rec.Position, rec.StreamID, rec.StreamVersion, rec.ID, rec.Type, int32(rec.SchemaVersion),
			string(rec.Data), string(rec.Metadata), rec.OccurredAt, rec.RecordedAt, rec.PrevHash, rec.Hash}
	}
	start := time.Now()
	n, err := pool.CopyFrom(ctx, pgx.Identifier{"events_copy"}, cols, pgx.CopyFromRows(src))
	if err != nil || n != int64(rows) {
		b.Fatalf("copy: %d, %v", n, err)
	}
	rate := float64(rows) / time.Since(start).Seconds()
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(0, "ns/op")
	return rate
}

func mustBenchPool(tb testing.TB, dsn string, conns int) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.MaxConns = int32(conns)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// result is one measured workload.
type result struct {
	eventsPerSec, p50, p99 float64 // p50 and p99 in ms
}

// opsDivisor is 4 at 1 appender (a quarter of benchOps) and 1 otherwise.
func opsDivisor(conc int) int {
	if conc == 1 {
		return 4
	}
	return 1
}

// run makes benchOps calls of op (a quarter of them at 1 appender) from conc
// goroutines and reports events/s, the latency percentiles of op and the
// CPU time per event of this process and of pool's database backends.
func run(b *testing.B, pool *pgxpool.Pool, conc, eventsPerOp int, op func(context.Context) error) result {
	b.Helper()
	ctx := context.Background()
	ops := benchOps(b) / opsDivisor(conc)
	b.ReportMetric(benchkit.LoadAverage(), "load1")
	cpu, err := benchkit.StartCPU(ctx, pool)
	if err != nil {
		b.Fatal(err)
	}
	lat := make([][]time.Duration, conc)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for g := range conc {
		wg.Go(func() {
			for next.Add(1) <= int64(ops) {
				t0 := time.Now()
				if err := op(ctx); err != nil {
					b.Error(err)
					return
				}
				lat[g] = append(lat[g], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	goCPU, pgCPU, err := cpu()
	if err != nil {
		b.Fatal(err)
	}
	events := float64(ops * eventsPerOp)
	b.ReportMetric(float64(goCPU.Microseconds())/events, "go_cpu_us/event")
	b.ReportMetric(float64(pgCPU.Microseconds())/events, "pg_cpu_us/event")
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return result{}
	}
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	r := result{float64(len(all)*eventsPerOp) / elapsed.Seconds(), pct(0.50), pct(0.99)}
	b.ReportMetric(r.eventsPerSec, "events/s")
	b.ReportMetric(r.p50, "p50_ms")
	b.ReportMetric(r.p99, "p99_ms")
	b.ReportMetric(0, "ns/op")
	return r
}

// reportWriter reports the mean events per append transaction, the mean
// time of one (from taking a connection to its commit's answer: the append
// lock is held for most of it) and the share of the workload's time the
// writer spent in transactions (near 100: the writer, not its callers, is
// the bound).
func reportWriter(b *testing.B, reg *prometheus.Registry) {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSampleCount() == 0 {
			continue
		}
		switch mf.GetName() {
		case "dealcredit_eventstore_append_batch_size":
			b.ReportMetric(h.GetSampleSum()/float64(h.GetSampleCount()), "events/tx")
		case "dealcredit_eventstore_append_transaction_seconds":
			b.ReportMetric(1000*h.GetSampleSum()/float64(h.GetSampleCount()), "tx_ms")
			if el := b.Elapsed(); el > 0 {
				b.ReportMetric(100*h.GetSampleSum()/el.Seconds(), "writer_busy_pct")
			}
		}
	}
}

// statementStats reads pg_stat_statements for the benchmark's database,
// when the server has it loaded (shared_preload_libraries).
type statementStats struct {
	pool *pgxpool.Pool
	ok   bool
}

func newStatementStats(ctx context.Context, pool *pgxpool.Pool) *statementStats {
	_, err := pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`)
	if err == nil {
		_, err = pool.Exec(ctx, `SELECT count(*) FROM pg_stat_statements`)
	}
	return &statementStats{pool: pool, ok: err == nil}
}

const sqlThisDB = `(SELECT oid FROM pg_database WHERE datname = current_database())`

// reset clears the statistics of the benchmark's database.
func (s *statementStats) reset(b *testing.B) {
	if !s.ok {
		return
	}
	if _, err := s.pool.Exec(context.Background(), `SELECT pg_stat_statements_reset(0, `+sqlThisDB+`, 0)`); err != nil {
		b.Fatal(err)
	}
}

// log logs the statements with the most execution time since reset, in
// microseconds per event of the workload's events.
func (s *statementStats) log(b *testing.B, events int) {
	if !s.ok {
		return
	}
	rows, err := s.pool.Query(context.Background(), `SELECT calls, total_exec_time, left(regexp_replace(query, '\s+', ' ', 'g'), 90)
		FROM pg_stat_statements WHERE dbid = `+sqlThisDB+` AND query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC LIMIT 8`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var calls int64
		var ms float64
		var q string
		if err := rows.Scan(&calls, &ms, &q); err != nil {
			b.Fatal(err)
		}
		b.Logf("pg_stat_statements: %7.2f us/event %8d calls  %s", 1000*ms/float64(events), calls, q)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
}
