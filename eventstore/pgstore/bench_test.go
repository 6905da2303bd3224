package pgstore_test

import (
	"context"
	"fmt"
	"slices"
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
const benchOps = 20000

// BenchmarkAppend measures the store and the physical limits of the same
// Postgres: one plain INSERT per transaction, and COPY into a plain table.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	dsn := mustDatabase(b)
	pool := mustBenchPool(b, dsn, 80)
	if _, err := pool.Exec(ctx, `CREATE TABLE plain (id bigint PRIMARY KEY, stream_id text NOT NULL, event_id uuid NOT NULL, type text NOT NULL, data json NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	var plainID atomic.Int64
	for _, conc := range []int{1, 16, 64} {
		for _, size := range []int{1, 5} {
			b.Run(fmt.Sprintf("store/appenders=%d/events=%d", conc, size), func(b *testing.B) {
				reg := prometheus.NewRegistry()
				s := mustStore(b, pool, pgstore.Options{Registerer: reg})
				defer reportBatchSize(b, reg)
				var seq atomic.Int64
				run(b, conc, size, func(ctx context.Context) error {
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
			})
		}
		b.Run(fmt.Sprintf("plain-insert-per-tx/clients=%d", conc), func(b *testing.B) {
			run(b, conc, 1, func(ctx context.Context) error {
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
	}
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
		b.ReportMetric(rows/time.Since(start).Seconds(), "events/s")
	})
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

// run makes benchOps calls of op from conc goroutines and reports events/s
// and the latency percentiles of op.
func run(b *testing.B, conc, eventsPerOp int, op func(context.Context) error) {
	b.Helper()
	ctx := context.Background()
	ops := benchOps
	if conc == 1 {
		ops = benchOps / 4
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
		return
	}
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(all)*eventsPerOp)/elapsed.Seconds(), "events/s")
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(0, "ns/op")
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
