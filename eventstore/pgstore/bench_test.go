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
// store's median latency over the plain INSERT's) before the store.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	dsn := mustDatabase(b)
	pool := mustBenchPool(b, dsn, 80)
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
	for _, conc := range []int{1, 16, 64} {
		var plain result
		b.Run(fmt.Sprintf("plain-insert-per-tx/clients=%d", conc), func(b *testing.B) {
			plain = run(b, conc, 1, func(ctx context.Context) error {
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
				defer reportBatchSize(b, reg)
				var seq atomic.Int64
				r := run(b, conc, size, func(ctx context.Context) error {
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
			})
		}
	}
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

// run makes benchOps calls of op (a quarter of them at 1 appender) from conc
// goroutines and reports events/s and the latency percentiles of op.
func run(b *testing.B, conc, eventsPerOp int, op func(context.Context) error) result {
	b.Helper()
	ctx := context.Background()
	ops := benchOps(b)
	if conc == 1 {
		ops /= 4
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

// reportBatchSize reports the mean events per append transaction.
func reportBatchSize(b *testing.B, reg *prometheus.Registry) {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "dealcredit_eventstore_append_batch_size" {
			h := mf.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() > 0 {
				b.ReportMetric(h.GetSampleSum()/float64(h.GetSampleCount()), "events/tx")
			}
		}
	}
}
