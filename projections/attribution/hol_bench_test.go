package attribution_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"dealcredit/internal/genlog"
	"dealcredit/projections/attribution"
	"dealcredit/projections/runner"
)

// BenchmarkHeadOfLine measures the latency of a partner's statement read
// (the API's statement) under 16 concurrent clients, alone and while other
// clients read the whole deals list (no limit) in a loop: what a large read
// costs the small ones read beside it. DEALCREDIT_BENCH_EVENTS sets the
// generated log (default 100,000 events: ~5,000 deals); each client reads
// 300 statements, after a warm-up that opens the pool's connections.
func BenchmarkHeadOfLine(b *testing.B) {
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("DEALCREDIT_BENCH_EVENTS")); err == nil && v > 0 {
		n = v
	}
	e := newEnv(b)
	ctx := context.Background()
	if _, err := genlog.Append(ctx, e.store, n, 200, nil); err != nil {
		b.Fatal(err)
	}
	if err := runner.Rebuild(ctx, e.pool, e.store, attribution.New(), 0, nil); err != nil {
		b.Fatal(err)
	}
	r := attribution.NewReader(e.pool)
	all, _, err := r.Registrations(ctx, attribution.RegistrationFilter{})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("deals list: %d rows", len(all))
	headOfLine(b, r, 16, 100, 1) // warm up: the pool's connections and prepared statements
	b.ResetTimer()
	for range b.N {
		for _, lists := range []int{0, 1, 2} {
			start := time.Now()
			fast, slow := headOfLine(b, r, 16, 300, lists)
			rate := float64(len(fast)) / time.Since(start).Seconds()
			b.ReportMetric(rate, fmt.Sprintf("statements/s/lists=%d", lists))
			name := fmt.Sprintf("statement_p50_ms/lists=%d", lists)
			b.ReportMetric(ms(pct(fast, 50)), name)
			b.ReportMetric(ms(pct(fast, 99)), fmt.Sprintf("statement_p99_ms/lists=%d", lists))
			b.ReportMetric(ms(pct(fast, 100)), fmt.Sprintf("statement_max_ms/lists=%d", lists))
			if lists > 0 {
				b.ReportMetric(ms(pct(slow, 50)), fmt.Sprintf("list_p50_ms/lists=%d", lists))
			}
			b.Logf("%d deals-list clients: statement p50 %.2f p99 %.2f max %.2f ms (%d reads, %.0f/s); deals list p50 %.2f ms (%d reads)",
				lists, ms(pct(fast, 50)), ms(pct(fast, 99)), ms(pct(fast, 100)), len(fast), rate, ms(pct(slow, 50)), len(slow))
		}
	}
}

// headOfLine runs clients x reads statement reads while lists clients read
// the whole deals list until they end, and returns the latencies.
func headOfLine(b *testing.B, r *attribution.Reader, clients, reads, lists int) (fast, slow []time.Duration) {
	ctx, stop := context.WithCancel(context.Background())
	var mu sync.Mutex
	var wg, lw sync.WaitGroup
	for range lists {
		lw.Go(func() {
			for ctx.Err() == nil {
				start := time.Now()
				if _, _, err := r.Registrations(ctx, attribution.RegistrationFilter{}); err != nil {
					if ctx.Err() == nil {
						b.Error(err)
					}
					return
				}
				mu.Lock()
				slow = append(slow, time.Since(start))
				mu.Unlock()
			}
		})
	}
	for c := range clients {
		wg.Go(func() {
			for i := range reads {
				start := time.Now()
				if _, _, err := r.Statements(context.Background(), fmt.Sprintf("var-%d", (c+i)%genlog.Partners), "2026Q1"); err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				fast = append(fast, time.Since(start))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	stop()
	lw.Wait()
	return fast, slow
}

// pct returns the p-th percentile of ds (p = 100: the largest).
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
