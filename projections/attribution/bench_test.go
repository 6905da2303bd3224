package attribution_test

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"dealcredit/internal/genlog"
	"dealcredit/internal/testkit/proccpu"
	"dealcredit/projections/attribution"
	"dealcredit/projections/runner"
)

// BenchmarkRebuild measures a full rebuild of the attribution projection
// (ledger, exceptions, statements, revenue mix, registrations and the
// program's stored state, then the swap) from a generated log of
// DEALCREDIT_BENCH_EVENTS events (default 50,000), next to the limit: a
// plain sequential read of the same log. Memory: the peak Go heap in use
// (sampled every 10 ms) and the process's peak resident set during the
// rebuild (VmHWM after resetting it through /proc/self/clear_refs).
// DEALCREDIT_BENCH_LATE_PERCENT approves that share of the registrations only
// after their customer's first invoice (genlog.Options.LatePercent): the
// re-attribution path.
// DEALCREDIT_BENCH_BATCH sets the rebuild's batch size (runner.DefaultBatchSize
// when unset).
func BenchmarkRebuild(b *testing.B) {
	n := 50000
	if v, err := strconv.Atoi(os.Getenv("DEALCREDIT_BENCH_EVENTS")); err == nil && v > 0 {
		n = v
	}
	late, _ := strconv.Atoi(os.Getenv("DEALCREDIT_BENCH_LATE_PERCENT"))
	batch, _ := strconv.Atoi(os.Getenv("DEALCREDIT_BENCH_BATCH")) // 0: the runner's default
	e := newEnv(b)
	head, err := genlog.AppendWith(context.Background(), e.store, n, 200, genlog.Options{LatePercent: late}, nil)
	if err != nil {
		b.Fatal(err)
	}
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

		if os.Getenv("GOMEMLIMIT") == "" { // as the dealcredit rebuild command does
			debug.SetMemoryLimit(runner.MemoryLimit)
		}
		debug.FreeOSMemory()
		rssReset := resetPeakRSS()
		peak := sampleHeap()
		cpu, err := proccpu.Start(ctx, e.pool)
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if err := runner.Rebuild(ctx, e.pool, e.store, attribution.New(), batch, nil); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		goCPU, pgCPU, err := cpu.Since(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(head)/el.Seconds(), "events/s")
		// CPU per event, of this process and of the database's backends: the work
		// itself, much steadier than the rate on a machine shared with other jobs.
		b.ReportMetric(goCPU.Seconds()*1e6/float64(head), "go_cpu_us/event")
		b.ReportMetric(pgCPU.Seconds()*1e6/float64(head), "pg_cpu_us/event")
		b.ReportMetric(readRate, "raw_read_events/s")
		b.ReportMetric(float64(peak())/(1<<20), "peak_heap_MB")
		if rssReset {
			b.ReportMetric(float64(peakRSS())/(1<<20), "peak_rss_MB")
		}
		b.ReportMetric(float64(head), "events")
	}
}

// resetPeakRSS resets the kernel's peak resident set of this process
// (Linux >= 4.0); false when it cannot.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSS returns VmHWM, the peak resident set since the last reset, in
// bytes (0 when unknown).
func peakRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
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
