package attribution_test

import (
	"context"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"dealcredit/internal/genlog"
	"dealcredit/internal/testkit/benchkit"
	"dealcredit/projections/attribution"
	"dealcredit/projections/runner"

	"github.com/jackc/pgx/v5"
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
		rssReset := benchkit.ResetPeakRSS()
		peak := benchkit.SampleHeap()
		cpu := startCPU(ctx, b, e)
		start = time.Now()
		if err := runner.Rebuild(ctx, e.pool, e.store, attribution.New(), batch, nil); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		goCPU, pgCPU := cpu()
		b.ReportMetric(float64(head)/el.Seconds(), "events/s")
		// CPU per event, of this process and of the database's backends: the work
		// itself, much steadier than the rate on a machine shared with other jobs.
		b.ReportMetric(goCPU.Seconds()*1e6/float64(head), "go_cpu_us/event")
		b.ReportMetric(pgCPU.Seconds()*1e6/float64(head), "pg_cpu_us/event")
		b.ReportMetric(readRate, "raw_read_events/s")
		// The other limit: storing the rows the rebuild wrote, at COPY's
		// speed, into tables the rebuild itself creates.
		writeRate := float64(head) / copyRebuiltRows(ctx, b, e).Seconds()
		b.ReportMetric(writeRate, "copy_rows_events/s")
		b.ReportMetric(100*(float64(head)/el.Seconds())/min(readRate, writeRate), "pct_limit")
		b.ReportMetric(float64(peak())/(1<<20), "peak_heap_MB")
		if rssReset {
			b.ReportMetric(float64(benchkit.PeakRSS())/(1<<20), "peak_rss_MB")
		}
		b.ReportMetric(float64(head), "events")
	}
}

// copyRebuiltRows copies every row of the live attribution schema into an
// empty schema built by the runner as a rebuild builds it (its tables and
// their keys, without the readers' indexes), table by table, each through
// COPY ... TO STDOUT piped into COPY ... FROM STDIN (binary), and returns
// the time the copies took. The rows a rebuild wrote and then replaced (its
// stored state) are not counted: this is a lower bound on its writes.
func copyRebuiltRows(ctx context.Context, b *testing.B, e env) time.Duration {
	b.Helper()
	p := attribution.New()
	live, scratch := runner.Schema(p.Name()), "bench_copy_rows"
	if _, _, err := runner.Build(ctx, e.pool, e.store, p, scratch, runner.Limit{Position: 1}, 0, nil); err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := runner.DropSchema(context.WithoutCancel(ctx), e.pool, scratch); err != nil {
			b.Error(err)
		}
	}()
	rows, err := e.pool.Query(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY 1", scratch)
	if err != nil {
		b.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range tables {
		if _, err := e.pool.Exec(ctx, "TRUNCATE "+pgx.Identifier{scratch, t}.Sanitize()); err != nil {
			b.Fatal(err)
		}
	}
	src, err := e.pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Release()
	dst, err := e.pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer dst.Release()
	start := time.Now()
	for _, t := range tables {
		pr, pw := io.Pipe()
		read := make(chan error, 1)
		go func() {
			_, err := src.Conn().PgConn().CopyTo(ctx, pw, "COPY "+pgx.Identifier{live, t}.Sanitize()+" TO STDOUT (FORMAT binary)")
			pw.CloseWithError(err)
			read <- err
		}()
		t0 := time.Now()
		tag, err := dst.Conn().PgConn().CopyFrom(ctx, pr, "COPY "+pgx.Identifier{scratch, t}.Sanitize()+" FROM STDIN (FORMAT binary)")
		pr.CloseWithError(err)
		if rerr := <-read; err == nil {
			err = rerr
		}
		if err != nil {
			b.Fatalf("copy %s: %v", t, err)
		}
		b.Logf("copy of the rebuilt rows: %s: %d rows in %v", t, tag.RowsAffected(), time.Since(t0).Round(time.Millisecond))
	}
	return time.Since(start)
}

// startCPU is benchkit.StartCPU on the benchmark's database, failing b on
// an error.
func startCPU(ctx context.Context, b *testing.B, e env) func() (goCPU, pgCPU time.Duration) {
	stop, err := benchkit.StartCPU(ctx, e.pool)
	if err != nil {
		b.Fatal(err)
	}
	return func() (time.Duration, time.Duration) {
		goCPU, pgCPU, err := stop()
		if err != nil {
			b.Fatal(err)
		}
		return goCPU, pgCPU
	}
}

// BenchmarkExportLedgerCSV measures the ledger's CSV export (WriteLedgerCSV,
// what `dealcredit export attribution` and GET /v1/attribution with Accept:
// text/csv write) of every ledger row of a log of
// DEALCREDIT_BENCH_EXPORT_EVENTS events (default 40,000: ~100,000 rows;
// 400,000 gives ~1M), rebuilt first, next to its limit: Postgres's own
// COPY ... TO STDOUT (FORMAT csv) of the same rows, read by this process. It
// reports rows/s of both and their ratio, CPU per row of this process and of
// the database's backends, the peak Go heap and the process's peak resident
// set during the export (it must stay flat: rows are streamed).
func BenchmarkExportLedgerCSV(b *testing.B) {
	n := 40000
	if v, err := strconv.Atoi(os.Getenv("DEALCREDIT_BENCH_EXPORT_EVENTS")); err == nil && v > 0 {
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
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		copied := copyLedgerCSV(ctx, b, e)
		copyRate := float64(copied) / time.Since(start).Seconds()

		debug.FreeOSMemory() // the rebuild's memory back to the OS before the RSS reset
		rssReset := benchkit.ResetPeakRSS()
		peak := benchkit.SampleHeap()
		cpu := startCPU(ctx, b, e)
		var out countingWriter
		start = time.Now()
		if _, err := r.WriteLedgerCSV(ctx, &out, "", ""); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		goCPU, pgCPU := cpu()
		rows := out.lines - 1 // the header
		if rows != copied {
			b.Fatalf("export wrote %d rows, COPY %d", rows, copied)
		}
		rate := float64(rows) / el.Seconds()
		b.ReportMetric(rate, "rows/s")
		b.ReportMetric(copyRate, "copy_rows/s")
		b.ReportMetric(100*rate/copyRate, "pct_copy")
		b.ReportMetric(goCPU.Seconds()*1e6/float64(rows), "go_cpu_us/row")
		b.ReportMetric(pgCPU.Seconds()*1e6/float64(rows), "pg_cpu_us/row")
		b.ReportMetric(float64(out.bytes)/float64(rows), "bytes/row")
		b.ReportMetric(float64(peak())/(1<<20), "peak_heap_MB")
		if rssReset {
			b.ReportMetric(float64(benchkit.PeakRSS())/(1<<20), "peak_rss_MB")
		}
		b.ReportMetric(float64(rows), "rows")
	}
}

// copyLedgerCSV reads the whole ledger as CSV with COPY TO STDOUT, in the
// export's columns and order, and returns the number of rows.
func copyLedgerCSV(ctx context.Context, b *testing.B, e env) int {
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	var out countingWriter
	cols := strings.Join(attribution.LedgerCSVHeader, ", ")
	_, err = conn.Conn().PgConn().CopyTo(ctx, &out, `COPY (SELECT `+cols+` FROM `+
		pgx.Identifier{runner.Schema(attribution.Name), "ledger"}.Sanitize()+` ORDER BY position, seq) TO STDOUT (FORMAT csv)`)
	if err != nil {
		b.Fatal(err)
	}
	return out.lines
}

// countingWriter counts the bytes and lines written to it.
type countingWriter struct {
	bytes int64
	lines int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.bytes += int64(len(p))
	for _, c := range p {
		if c == '\n' {
			w.lines++
		}
	}
	return len(p), nil
}
