package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/genlog"
	"dealcredit/internal/pgdb"
	"dealcredit/internal/testkit/benchkit"
	"dealcredit/internal/testkit/daemontest"
)

// BenchmarkReadLoad drives a real daemon on a loopback port, its read model
// seeded from a generated log of DEALCREDIT_BENCH_READ_EVENTS events
// (default 20,000: 20 partners, ~1,000 deals, ~50,000 ledger lines), with
// 32 concurrent clients (DEALCREDIT_BENCH_CLIENTS) sending
// DEALCREDIT_BENCH_REQUESTS requests (default 10,000) to each of, in this
// order: GET /healthz (the same-run limit: routing, the access log and
// the loopback HTTP round trip and nothing else), a partner's statement
// (GET /v1/partners/var-0/statements/2026Q1 with that partner's token)
// and a partner's list of deals (GET /v1/deals). Each endpoint reports its
// req/s, p50 and p99, its req/s as a percentage of /healthz's, and the CPU
// per request of this process (daemon and clients: they share it) and of
// the database's backends, steadier than the rates on a shared machine.
// Every answer must be 200, or the benchmark fails. With
// DEALCREDIT_BENCH_READ_PROFILE set to a directory it writes a CPU profile
// of each endpoint's load there (healthz.prof, statement.prof, deals.prof).
func BenchmarkReadLoad(b *testing.B) {
	events := envInt("DEALCREDIT_BENCH_READ_EVENTS", 20000)
	clients := envInt("DEALCREDIT_BENCH_CLIENTS", 32)
	requests := envInt("DEALCREDIT_BENCH_REQUESTS", 10000)
	d, head := seededDaemon(b, events)
	partner := d.Token(b, "partner")
	statement := "/v1/partners/var-0/statements/2026Q1"
	waitProjected(b, d, partner, statement, head)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	defer client.CloseIdleConnections()
	targets := []struct{ name, path, token string }{
		{"healthz", "/healthz", ""},
		{"statement", statement, partner},
		{"deals", "/v1/deals", partner},
	}
	pool, err := pgdb.OpenPool(context.Background(), d.Env["DATABASE_URL"])
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	b.ReportMetric(benchkit.LoadAverage(), "load1")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var healthz float64
		for _, t := range targets {
			stop, err := benchkit.StartCPU(context.Background(), pool)
			if err != nil {
				b.Fatal(err)
			}
			stopProfile := profileTarget(b, t.name)
			r := load(b, client, d.URL+t.path, t.token, clients, requests)
			stopProfile()
			goCPU, pgCPU, err := stop()
			if err != nil {
				b.Fatal(err)
			}
			if t.name == "healthz" {
				healthz = r.rate
			}
			b.ReportMetric(r.rate, t.name+"_req/s")
			b.ReportMetric(ms(r.p50), t.name+"_p50_ms")
			b.ReportMetric(ms(r.p99), t.name+"_p99_ms")
			b.ReportMetric(goCPU.Seconds()*1e6/float64(requests), t.name+"_go_cpu_us/req")
			b.ReportMetric(pgCPU.Seconds()*1e6/float64(requests), t.name+"_pg_cpu_us/req")
			if t.name != "healthz" {
				b.ReportMetric(100*r.rate/healthz, t.name+"_pct_healthz")
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(head), "events")
}

// seededDaemon starts a daemon whose tokens include a partner token of
// var-0 and appends a generated log of n events to its database; it returns
// the log's head.
func seededDaemon(b *testing.B, n int) (*daemontest.Daemon, int64) {
	dir := b.TempDir()
	toks := []daemontest.Token{
		{Token: "bench-admin-0123456789", Role: "admin"},
		{Token: "bench-finance-01234567", Role: "finance"},
		{Token: "bench-partner-01234567", Role: "partner", PartnerID: "var-0"},
	}
	raw, _ := json.Marshal(toks)
	if err := os.WriteFile(filepath.Join(dir, "tokens.json"), raw, 0o600); err != nil {
		b.Fatal(err)
	}
	d := daemontest.Start(b, map[string]string{"DEALCREDIT_DATA_DIR": dir})
	ctx := context.Background()
	pool, err := pgdb.OpenPool(ctx, d.Env["DATABASE_URL"])
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	store, err := pgstore.New(pool, pgstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	head, err := genlog.Append(ctx, store, n, 200, nil)
	if err != nil {
		b.Fatal(err)
	}
	return d, head
}

// waitProjected waits (5 minutes at most) until the daemon's attribution
// read model reflects head, asking for path with min_position.
func waitProjected(b *testing.B, d *daemontest.Daemon, token, path string, head int64) {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		req, _ := http.NewRequest("GET", d.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Dealcredit-Min-Position", strconv.FormatInt(head, 10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			if !strings.Contains(string(body), `"currency"`) {
				b.Fatalf("%s: no statement rows at position %d: %s", path, head, body)
			}
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: read model did not reach %d: %d %s", path, head, resp.StatusCode, body)
		}
	}
}

// profileTarget writes a CPU profile of one endpoint's load, from now
// until the returned function is called, to
// $DEALCREDIT_BENCH_READ_PROFILE/<name>.prof when that directory is set
// (not together with -cpuprofile: one CPU profile at a time).
func profileTarget(b *testing.B, name string) func() {
	dir := os.Getenv("DEALCREDIT_BENCH_READ_PROFILE")
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, name+".prof"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// loadResult is one endpoint's figures.
type loadResult struct {
	rate     float64 // requests per second
	p50, p99 time.Duration
}

// load sends n GET requests to url from c concurrent clients and returns
// the rate and latency percentiles; any answer but 200 fails b.
func load(b *testing.B, client *http.Client, url, token string, c, n int) loadResult {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", url, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				t0 := time.Now()
				if err := get(client, req); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("%s: %v", url, err)
	}
	slices.Sort(lat)
	return loadResult{rate: float64(n) / el.Seconds(), p50: lat[n/2], p99: lat[n*99/100]}
}

// get sends req and reads the whole answer, which must be 200.
func get(client *http.Client, req *http.Request) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
