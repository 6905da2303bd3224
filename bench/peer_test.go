package bench_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hallgren/eventsourcing/core"
	hsql "github.com/hallgren/eventsourcing/eventstore/sql"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver for the peer
	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/eventstore"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/pgdb"
	"dealcredit/internal/testkit/pgtest"
)

// benchOps is how many appends each sub-benchmark makes in total (a quarter
// of it at 1 appender), whatever b.N is; DEALCREDIT_BENCH_OPS overrides it.
func benchOps(tb testing.TB) int {
	if v := os.Getenv("DEALCREDIT_BENCH_OPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 4 {
			tb.Fatalf("DEALCREDIT_BENCH_OPS=%q: want an integer >= 4", v)
		}
		return n
	}
	return 20000
}

// result is one measured workload.
type result struct {
	eventsPerSec, p50, p99 float64
}

// BenchmarkPeer runs the same workload against the peer
// (hallgren/eventsourcing's Postgres store through the pgx stdlib driver)
// and against dealcredit's store, in one run against the same Postgres:
// 1, 16 and 64 concurrent appenders, appends of 1 and 5 events to distinct
// streams, expected version checked (the peer checks the aggregate version
// in its transaction; ours appends with NoStream). Each pair reports
// events/s, p50 and p99, and ours reports x_peer, its events/s divided by
// the peer's.
func BenchmarkPeer(b *testing.B) {
	ctx := context.Background()
	for _, conc := range []int{1, 16, 64} {
		for _, size := range []int{1, 5} {
			var peer result
			b.Run(fmt.Sprintf("peer=hallgren/appenders=%d/events=%d", conc, size), func(b *testing.B) {
				dsn := pgtest.NewDatabase(b)
				db, err := sql.Open("pgx", dsn)
				if err != nil {
					b.Fatal(err)
				}
				db.SetMaxOpenConns(conc)
				db.SetMaxIdleConns(conc)
				defer db.Close()
				es, err := hsql.NewPostgres(db)
				if err != nil {
					b.Fatal(err)
				}
				var seq atomic.Int64
				peer = run(b, conc, size, func(context.Context) error {
					n := seq.Add(1)
					evs := make([]core.Event, size)
					now := time.Now()
					for i := range evs {
						evs[i] = core.Event{
							AggregateID: fmt.Sprintf("bench-%d", n), AggregateType: "bench", Version: core.Version(i + 1),
							Timestamp: now, Reason: "bench.event", Data: fmt.Appendf(nil, `{"n":%d,"i":%d}`, n, i), Metadata: []byte(`{}`),
						}
					}
					return es.Save(evs)
				})
			})
			b.Run(fmt.Sprintf("ours/appenders=%d/events=%d", conc, size), func(b *testing.B) {
				dsn := pgtest.NewDatabase(b)
				if err := pgdb.Migrate(ctx, dsn, pgstore.Migrations(), pgstore.VersionTable); err != nil {
					b.Fatal(err)
				}
				cfg, err := pgxpool.ParseConfig(dsn)
				if err != nil {
					b.Fatal(err)
				}
				cfg.MaxConns = 8
				pool, err := pgxpool.NewWithConfig(ctx, cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer pool.Close()
				s, err := pgstore.New(pool, pgstore.Options{Registerer: prometheus.NewRegistry()})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				var seq atomic.Int64
				ours := run(b, conc, size, func(ctx context.Context) error {
					n := seq.Add(1)
					evs := make([]eventstore.Event, size)
					for i := range evs {
						evs[i] = eventstore.Event{ID: uuid.New(), Type: "bench.event", SchemaVersion: 1, Data: fmt.Appendf(nil, `{"n":%d,"i":%d}`, n, i)}
					}
					_, err := s.Append(ctx, fmt.Sprintf("bench-%d", n), eventstore.NoStream, evs...)
					return err
				})
				if peer.eventsPerSec > 0 {
					b.ReportMetric(ours.eventsPerSec/peer.eventsPerSec, "x_peer")
				}
			})
		}
	}
}

// run makes benchOps calls of op from conc goroutines and reports events/s
// and the latency percentiles of op.
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
		b.Fatal("no append succeeded")
	}
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	r := result{eventsPerSec: float64(len(all)*eventsPerOp) / elapsed.Seconds(), p50: pct(0.50), p99: pct(0.99)}
	b.ReportMetric(r.eventsPerSec, "events/s")
	b.ReportMetric(r.p50, "p50_ms")
	b.ReportMetric(r.p99, "p99_ms")
	b.ReportMetric(0, "ns/op")
	return r
}
