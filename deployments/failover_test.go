package deployments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/consumers/ingest"
	"dealcredit/consumers/oemfeed"
	"dealcredit/eventstore/mirror"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/pgdb"
	"dealcredit/internal/testkit/daemontest"
	"dealcredit/internal/testkit/pgcluster"
	"dealcredit/projections"
)

// TestFailoverSynchronousStandby kills the Postgres primary under ingest
// and HTTP commands and promotes its synchronous standby: nothing
// acknowledged is lost and the daemon resumes by itself.
func TestFailoverSynchronousStandby(t *testing.T) {
	runFailover(t, true)
}

// TestFailoverAsynchronousStandby cuts replication, lets the primary commit
// events the standby never receives (the relay mirrors them), kills the
// primary and promotes the standby: the writer is fenced (no append, 503,
// /readyz failing) until recover --from-mirror brings the lost events back,
// after which every acknowledged invoice and command is in the log exactly
// once, and verify (chain, mirror, projections) passes.
func TestFailoverAsynchronousStandby(t *testing.T) {
	runFailover(t, false)
}

func runFailover(t *testing.T, synchronous bool) {
	invoices := 300
	if os.Getenv("DEALCREDIT_SOAK") == "1" {
		invoices = 5000
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := pgcluster.Start(t, pgcluster.Options{Synchronous: synchronous})
	dsn := c.DSN("dealcredit")
	logs := &failureLog{}
	t.Cleanup(func() { logs.dump(t) })
	d := daemontest.StartLogged(t, map[string]string{"DATABASE_URL": dsn}, logs.prefixed("d"))
	admin := d.Token(t, "admin")
	enroll(t, d.URL, admin, "hp")

	nc, err := nats.Connect(d.NATSURL, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(ctx, t, "the OEM_HP stream", func() bool {
		_, err := js.Stream(ctx, ingest.StreamName("hp"))
		return err == nil
	})
	pool, err := pgdb.OpenPool(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	msgs := oemfeed.GenerateMessages(oemfeed.GenOptions{Seed: 18, Invoices: invoices, OEMs: []string{"hp"}, RevisionFraction: 0.1, DuplicateFraction: 0.05})
	want := expectedLog(t, msgs)

	// Load: invoices on JetStream, partner enrollments over HTTP (each 201
	// is an acknowledged command). The second half of the invoices waits
	// for resumeInvoices; pause stops the enrollments until resume.
	half := len(msgs) / 2
	load, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var (
		wg       sync.WaitGroup
		pubErr   = make(chan error, 1)
		halfDone = make(chan struct{})
		pause    = make(chan struct{})
		paused   = make(chan struct{})
		resume   = make(chan struct{})
		// resumeInvoices releases the second half of the invoices.
		resumeInvoices = make(chan struct{})
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, g := range msgs {
			if i == half {
				close(halfDone)
				<-resumeInvoices
			}
			if _, err := publishInvoice(ctx, js, g); err != nil {
				pubErr <- err
				return
			}
		}
	}()
	var (
		mu      sync.Mutex
		created []string // partner ids answered 201
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		pause := pause
		for i := 0; load.Err() == nil; i++ {
			select {
			case <-pause:
				close(paused)
				pause = nil
				<-resume
			default:
			}
			id := fmt.Sprintf("var-%05d", i)
			if tryEnroll(load, d.URL, admin, id) == http.StatusCreated {
				mu.Lock()
				created = append(created, id)
				mu.Unlock()
			}
		}
	}()

	headOf := func(db *pgxpool.Pool) int64 {
		var h int64
		if err := db.QueryRow(ctx, "SELECT coalesce(max(position), 0) FROM events").Scan(&h); err != nil {
			return -1
		}
		return h
	}
	standbyHead := func() int64 {
		var h int64
		if err := c.Query(c.Standby, "dealcredit", "SELECT coalesce(max(position), 0) FROM events", &h); err != nil {
			return -1
		}
		return h
	}
	waitUntil(ctx, t, "100 events in the log", func() bool { return headOf(pool) >= 100 })

	var cutAt int64
	if !synchronous {
		c.CutReplication(t)
		cutAt = standbyHead()
		// The primary commits and the relay mirrors events the standby
		// will never have.
		waitUntil(ctx, t, "the primary to pass the standby's head", func() bool { return headOf(pool) >= cutAt+40 })
		// A command answered 201 does not wait for the mirror: the
		// enrollments pause and the mirror gets their last one first.
		close(pause)
		<-paused
		var lastEnrollment int64
		if err := pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM events WHERE stream_id LIKE 'partner-%'`).Scan(&lastEnrollment); err != nil {
			t.Fatal(err)
		}
		waitUntil(ctx, t, "the last enrollment mirrored", func() bool { return mirrorLast(ctx, js) >= lastEnrollment })
		// Ingest acknowledges an OEM message only once its events are in
		// the mirror, so the relay is not waited for: the primary dies
		// while the second half of the invoices is being committed and
		// mirrored. An invoice committed but not yet mirrored is lost with
		// the primary, yet unacknowledged, and redelivered.
		invoicesInLog := func() int {
			var n int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE type = 'invoice.received'`).Scan(&n); err != nil {
				return -1
			}
			return n
		}
		<-halfDone
		before := invoicesInLog()
		close(resumeInvoices)
		waitUntil(ctx, t, "ingest of the second half under way", func() bool { return invoicesInLog() > before })
	}
	headBefore := headOf(pool)
	c.KillPrimary(t)
	killedAt := time.Now()
	if !synchronous {
		t.Logf("killed the primary mid-ingest: log head read just before the kill %d, mirror after the kill %d", headBefore, mirrorLast(ctx, js))
	}
	c.Promote(t)
	promotedAt := time.Now()
	close(resume) // the rest of the load meets the failover
	if synchronous {
		close(resumeInvoices)
	}
	t.Logf("primary killed at log head %d, standby promoted %s later (its head: %d)", headBefore, promotedAt.Sub(killedAt).Round(time.Millisecond), standbyHead())

	store, err := pgstore.New(pool, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	if synchronous {
		waitUntil(ctx, t, "/readyz 200 after the failover", func() bool { code, _ := readyz(d.URL); return code == http.StatusOK })
		ready := time.Since(promotedAt)
		t.Logf("ready %s after the promotion", ready.Round(time.Millisecond))
		// Readiness probes now (1-2 s when idle); the bound leaves room
		// for a loaded test machine.
		if ready > 5*time.Second {
			t.Errorf("/readyz green %s after the promotion, want within 5 s", ready.Round(time.Millisecond))
		}
		// The pool may still hold a connection to the dead primary: retry
		// until a read succeeds.
		h := int64(-1)
		waitUntil(ctx, t, "the promoted log's head", func() bool { h = headOf(pool); return h >= 0 })
		if h < headBefore {
			t.Fatalf("the promoted log ends at %d, before the %d the primary had", h, headBefore)
		}
		// The scheduled verify runs at once on the new server (the first
		// scheduled one is a minute after start).
		vctx, vcancel := context.WithTimeout(ctx, 20*time.Second)
		defer vcancel()
		waitUntil(vctx, t, "a verify within 20 s of the failover", func() bool {
			return metricValue(d.URL, "dealcredit_verify_last_success_timestamp_seconds") > 0
		})
	} else {
		waitUntil(ctx, t, "/readyz to report the fence", func() bool {
			code, body := readyz(d.URL)
			return code == http.StatusServiceUnavailable && strings.Contains(body, "the mirror holds positions")
		})
		fencedSeen := time.Since(promotedAt)
		// The verify that runs on the new server finds the mirror ahead.
		vctx, vcancel := context.WithTimeout(ctx, 20*time.Second)
		defer vcancel()
		waitUntil(vctx, t, "a failed verify within 20 s of the failover", func() bool {
			return metricValue(d.URL, "dealcredit_verify_failures_total") > 0 && metricValue(d.URL, "dealcredit_log_fenced") == 1
		})
		code, body := post(ctx, d.URL+"/v1/partners", admin, map[string]string{"id": "var-fenced", "name": "F", "kind": "var", "geography": "us-west"})
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "fenced") {
			t.Fatalf("command while fenced: %d %s, want 503 naming the fence", code, body)
		}
		// The test's pool may still hold connections to the killed server:
		// a query on one fails (-1) and the next one reconnects.
		var logHead int64
		waitUntil(ctx, t, "the promoted log's head", func() bool { logHead = headOf(pool); return logHead >= 0 })
		mirrorHead := mirrorLast(ctx, js)
		if logHead != cutAt {
			t.Fatalf("fenced log head %d, want the standby's %d: something was appended", logHead, cutAt)
		}
		lost := mirrorHead - logHead
		if lost <= 0 {
			t.Fatalf("mirror head %d, log head %d: the failover lost nothing the mirror holds", mirrorHead, logHead)
		}
		rep, err := mirror.Recover(ctx, store, js)
		if err != nil {
			t.Fatalf("recover --from-mirror: %v", err)
		}
		if rep.Restored != lost {
			t.Fatalf("recovered %d events, want the %d lost", rep.Restored, lost)
		}
		waitUntil(ctx, t, "/readyz 200 after recover", func() bool { code, _ := readyz(d.URL); return code == http.StatusOK })
		t.Logf("FIGURES: events lost before recovery %d (mirror %d, promoted log %d); after recovery 0; fence reported %s after the promotion; fenced %s (promotion to ready after recover)",
			lost, mirrorHead, logHead, fencedSeen.Round(time.Millisecond), time.Since(promotedAt).Round(time.Millisecond))
		if again, err := mirror.Recover(ctx, store, js); err != nil || again.Restored != 0 {
			t.Fatalf("second recover = %+v, %v; want a no-op", again, err)
		}
	}

	// Commands are taken again; then every acknowledged thing is in the log.
	waitUntil(ctx, t, "a command answered 201 after the failover", func() bool {
		return tryEnroll(ctx, d.URL, admin, fmt.Sprintf("si-after-%d", time.Now().UnixNano())) == http.StatusCreated
	})
	stopLoad()
	wg.Wait()
	select {
	case err := <-pubErr:
		t.Fatal(err)
	default:
	}
	waitUntil(ctx, t, "every invoice in the log", func() bool {
		var got int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE type = 'invoice.received'`).Scan(&got)
		return err == nil && got >= len(want.keys)
	})
	checkLog(ctx, t, pool, want)
	var missing []string
	for _, id := range created {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE stream_id = $1`, "partner-"+id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			missing = append(missing, fmt.Sprintf("%s (%d events)", id, n))
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d partners answered 201 are not in the log exactly once: %v", len(missing), len(created), missing)
	}
	t.Logf("%d invoices and %d enrollments acknowledged, all in the log once", len(want.keys), len(created))
	if !synchronous {
		// Batches committed on the killed primary but never mirrored (or
		// whose position the mirror later gave to another event) were held
		// back, not acknowledged; their redelivery stored them again.
		t.Logf("ingest batches held back, not acknowledged, for want of the mirror: %d", logs.count("not in the mirror, not acknowledged"))
	}

	if rep, err := store.Verify(ctx, nil); err != nil || !rep.OK() {
		t.Fatalf("verify chain: %+v, %v", rep, err)
	}
	waitUntil(ctx, t, "the mirror to equal the log", func() bool {
		rep, err := mirror.Verify(ctx, store, js)
		if err == nil && !rep.OK() {
			t.Fatalf("mirror differs from the log: %v", rep.Err())
		}
		return err == nil && rep.Behind == 0 && rep.MirrorHead == rep.LogHead
	})
	prep, err := projections.NewManager(pool, store, nil, nil).Verify(ctx, nil)
	if err != nil {
		t.Fatalf("verify projections: %v", err)
	}
	if !prep.OK() {
		t.Fatalf("projections differ from a rebuild: %+v", prep)
	}
}

// count returns how many kept log lines contain substr.
func (l *failureLog) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// readyz returns /readyz's status and body.
func readyz(base string) (int, string) {
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// tryEnroll enrolls a VAR partner and returns the status (0 on a
// transport error).
func tryEnroll(ctx context.Context, base, token, id string) int {
	code, _ := post(ctx, base+"/v1/partners", token, map[string]string{"id": id, "name": strings.ToUpper(id), "kind": "var", "geography": "us-west"})
	return code
}

// post sends body as JSON with a bearer token and returns status and body.
func post(ctx context.Context, url, token string, body any) (int, string) {
	b, _ := json.Marshal(body)
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// mirrorLast returns DEALCREDIT_EVENTS' last sequence (0 while unreadable).
func mirrorLast(ctx context.Context, js jetstream.JetStream) int64 {
	s, err := js.Stream(ctx, mirror.StreamName)
	if err != nil {
		return 0
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0
	}
	return int64(info.State.LastSeq)
}

// waitUntil polls cond until it holds or ctx ends.
func waitUntil(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
		time.Sleep(50 * time.Millisecond) // polling interval, bounded by ctx
	}
}

// metricValue returns the value of an unlabelled metric on base's /metrics
// (0 when absent).
func metricValue(base, name string) float64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return f
			}
		}
	}
	return 0
}
