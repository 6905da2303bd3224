package attribution_test

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"dealcredit/domain"
	"dealcredit/projections/attribution"
	"dealcredit/projections/runner"
)

// BenchmarkRebuild measures a full rebuild of the attribution projection
// (ledger, statements, mix, registrations) from a generated log of
// DEALCREDIT_BENCH_EVENTS events (default 50,000), next to a plain
// sequential read of the same log and a fold without writes (decode +
// Program.Apply), with peak heap in use sampled every 10 ms and the size of
// the folded program (heap retained after GC).
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

		// The fold alone (decode + Program.Apply, no writes), then the
		// program's retained size.
		var base runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&base)
		peak := sampleHeap()
		start = time.Now()
		st := domain.NewProgram()
		for pos = 0; ; {
			recs, err := e.store.ReadAll(ctx, pos, runner.DefaultBatchSize)
			if err != nil {
				b.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			for _, r := range recs {
				env, err := attribution.Decode(r)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := st.Apply(env); err != nil {
					b.Fatal(err)
				}
			}
			pos = recs[len(recs)-1].Position
		}
		foldRate := float64(head) / time.Since(start).Seconds()
		foldPeak := peak()
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(st)
		st = nil

		runtime.GC()
		peak = sampleHeap()
		start = time.Now()
		if err := runner.Rebuild(ctx, e.pool, e.store, attribution.New(), 0, nil); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		b.ReportMetric(float64(head)/el.Seconds(), "events/s")
		b.ReportMetric(readRate, "raw_read_events/s")
		b.ReportMetric(float64(peak())/(1<<20), "peak_heap_MB")
		b.ReportMetric(foldRate, "fold_events/s")
		b.ReportMetric(float64(foldPeak)/(1<<20), "fold_peak_heap_MB")
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(base.HeapAlloc))/(1<<20), "program_MB")
		b.ReportMetric(float64(head), "events")
	}
}

// sampleHeap samples HeapInuse every 10 ms until the returned function is
// called; that function returns the peak.
func sampleHeap() func() uint64 {
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
	return func() uint64 {
		close(stop)
		<-sampled
		return peak.Load()
	}
}
