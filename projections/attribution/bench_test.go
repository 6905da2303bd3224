package attribution_test

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"dealcredit/projections/attribution"
	"dealcredit/projections/runner"
)

// BenchmarkRebuild measures a full rebuild of the attribution projection
// (ledger, statements, mix, registrations) from a generated log of
// DEALCREDIT_BENCH_EVENTS events (default 50,000), next to a plain
// sequential read of the same log, with peak heap in use sampled every 10 ms.
func BenchmarkRebuild(b *testing.B) {
	n := 50000
	if v, err := strconv.Atoi(os.Getenv("DEALCREDIT_BENCH_EVENTS")); err == nil && v > 0 {
		n = v
	}
	e := newEnv(b)
	head := genLog(b, e, n)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// The limit: read the log, nothing else.
		start := time.Now()
		var pos int64
		for {
			recs, err := e.store.ReadAll(ctx, pos, runner.DefaultBatchSize)
			if err != nil {
				b.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			pos = recs[len(recs)-1].Position
		}
		readRate := float64(head) / time.Since(start).Seconds()

		runtime.GC()
		var peak atomic.Uint64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
		start = time.Now()
		if err := runner.Rebuild(ctx, e.pool, e.store, attribution.New(), 0, nil); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		close(stop)
		<-sampled
		b.ReportMetric(float64(head)/el.Seconds(), "events/s")
		b.ReportMetric(readRate, "raw_read_events/s")
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak_heap_MB")
		b.ReportMetric(float64(head), "events")
	}
}
