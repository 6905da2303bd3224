package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/consumers/ingest"
	"dealcredit/consumers/oemfeed"
)

func soak() bool { return os.Getenv("DEALCREDIT_SOAK") == "1" }

// publishFeed publishes each OEM's generated messages with oemfeed.Publish,
// then republishes every 20th valid one without Nats-Msg-Id (a republish
// outside the dedupe window: only Postgres can absorb it).
func publishFeed(t *testing.T, e *env, feed []oemfeed.Generated, oems ...string) {
	t.Helper()
	_, js := e.connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, oem := range oems {
		var buf bytes.Buffer
		for _, g := range feed {
			if g.OEM == oem {
				buf.Write(g.Body)
				buf.WriteByte('\n')
			}
		}
		// A loaded CI machine can take longer than the CLI's default to
		// acknowledge: the test is about ingest, not the publisher's patience.
		if _, err := oemfeed.Publish(ctx, js, oem, &buf, oemfeed.PublishOptions{AckTimeout: time.Minute}); err != nil {
			t.Fatalf("publish %s: %v", oem, err)
		}
	}
	for i, g := range feed {
		if g.Valid && i%20 == 0 {
			if _, err := js.Publish(ctx, oemfeed.Subject(g.OEM), g.Body); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// checkStored compares the stored invoices with the valid generated ones:
// same count, same lines, same sum per OEM and currency, no duplicates.
func checkStored(t *testing.T, e *env, feed []oemfeed.Generated) {
	t.Helper()
	type key struct{ oem, currency string }
	wantSum, gotSum := map[key]int64{}, map[key]int64{}
	wantKeys := map[string]bool{}
	wantLines := 0
	for _, g := range feed {
		k := oemfeed.MsgID(g.OEM, g.Message.InvoiceNumber, g.Message.Revision)
		if !g.Valid || wantKeys[k] {
			continue
		}
		wantKeys[k] = true
		wantLines += len(g.Message.Lines)
		wantSum[key{g.OEM, g.Message.Currency}] += g.Message.TotalMinor()
	}
	stored := invoices(t, e.pool)
	seen := map[string]bool{}
	gotLines := 0
	for _, inv := range stored {
		k := inv.NaturalKey()
		if seen[k] {
			t.Errorf("invoice %s stored twice", k)
		}
		seen[k] = true
		if !wantKeys[k] {
			t.Errorf("unexpected invoice %s stored", k)
		}
		gotLines += len(inv.Lines)
		gotSum[key{inv.OEMID, inv.Currency}] += inv.Total().Amount
	}
	if len(stored) != len(wantKeys) || gotLines != wantLines {
		t.Errorf("stored %d invoices with %d lines, want %d with %d", len(stored), gotLines, len(wantKeys), wantLines)
	}
	for k, v := range wantSum {
		if gotSum[k] != v {
			t.Errorf("sum %s %s = %d, want %d", k.oem, k.currency, gotSum[k], v)
		}
	}
	if len(gotSum) != len(wantSum) {
		t.Errorf("sums for %d OEM/currency pairs, want %d", len(gotSum), len(wantSum))
	}
}

// TestPoison interleaves malformed and valid messages: every valid one is
// stored, every malformed one dead-lettered with a reason, and the consumer
// ends with nothing pending (nothing is redelivered forever).
func TestPoison(t *testing.T) {
	n := 300
	if soak() {
		n = 1000
	}
	e := mustEnv(t)
	feed := oemfeed.GenerateMessages(oemfeed.GenOptions{Seed: 7, Invoices: 2 * n, OEMs: []string{"hp"}, MalformedFraction: 0.5, Lines: 2})
	bad := 0
	for _, g := range feed {
		if !g.Valid {
			bad++
		}
	}
	reg := prometheus.NewRegistry()
	c, _ := e.consumer(t, reg, ingest.Options{BatchSize: 100, AckWait: 30 * time.Second}, "hp")
	publishFeed(t, e, feed, "hp")
	stop := run(t, c)
	_, js := e.connect(t)
	eventually(t, 2*time.Minute, "all messages settled", func() bool { return drained(t, js, "hp") })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkStored(t, e, feed)
	letters := dlq(t, js)
	if len(letters) != bad {
		t.Fatalf("%d dead letters, want %d", len(letters), bad)
	}
	for _, l := range letters {
		if l.Headers().Get(ingest.HeaderReason) == "" {
			t.Fatalf("dead letter without reason: %s", l.Data())
		}
	}
	if got := len(rejections(t, e.pool)); got != bad {
		t.Fatalf("%d rejection facts, want %d", got, bad)
	}
	if got := counter(reg, "hp", ingest.OutcomeRejected); got != bad {
		t.Fatalf("rejected counter %d, want %d", got, bad)
	}
}

var errKilled = errors.New("killed")

// TestExactlyOnceUnderFaults publishes a feed with duplicates, revisions and
// some malformed messages, and consumes it with two competing consumers that
// are killed at random points (before commit, between commit and ack, half
// way through the acks) and restarted, at least 12 times. Afterwards the
// stored lines equal the expected set.
func TestExactlyOnceUnderFaults(t *testing.T) {
	n := 3000
	if s := os.Getenv("INGEST_FAULT_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	if soak() {
		n = 20000
	}
	e := mustEnv(t)
	oems := []string{"hp", "dell"}
	feed := oemfeed.GenerateMessages(oemfeed.GenOptions{Seed: 42, Invoices: n, OEMs: oems,
		MalformedFraction: 0.01, CreditMemoFraction: 0.05, RevisionFraction: 0.1, DuplicateFraction: 0.05})
	// Provision before publishing (as the daemon does on enrolment).
	e.consumer(t, nil, ingest.Options{}, oems...)
	publishFeed(t, e, feed, oems...)

	points := []string{ingest.FaultAfterCommit, ingest.FaultBeforeCommit, ingest.FaultMidAck}
	var (
		mu      sync.Mutex
		rng     = rand.New(rand.NewPCG(1, 2))
		kills   int
		byPoint = map[string]int{}
	)
	const minKills = 12
	fault := func(point string) error {
		mu.Lock()
		defer mu.Unlock()
		if kills >= minKills || point != points[kills%len(points)] || rng.Float64() > 0.35 {
			return nil
		}
		kills++
		byPoint[point]++
		return errKilled
	}
	reg := prometheus.NewRegistry()
	_, js := e.connect(t)
	var restarts atomic.Int64
	lastLog := time.Now()
	done := func() bool {
		mu.Lock()
		k := kills
		mu.Unlock()
		if time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			for _, oem := range oems {
				cons, err := js.Consumer(context.Background(), ingest.StreamName(oem), "dealcredit-ingest")
				if err == nil {
					info, _ := cons.Info(context.Background())
					t.Logf("kills %d restarts %d %s: pending %d ackpending %d redelivered %d stored %d", k, restarts.Load(), oem, info.NumPending, info.NumAckPending, info.NumRedelivered, len(invoices(t, e.pool)))
				}
			}
		}
		return k >= minKills && drained(t, js, oems...)
	}
	var wg sync.WaitGroup
	var stopAll atomic.Bool
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopAll.Load() {
				c, nc := e.consumer(t, reg, ingest.Options{BatchSize: 25, AckWait: time.Second, Fault: fault}, oems...)
				ctx, cancel := context.WithCancel(context.Background())
				errc := make(chan error, 1)
				go func() { errc <- c.Run(ctx) }()
				var err error
				for err == nil {
					select {
					case err = <-errc:
					case <-time.After(50 * time.Millisecond):
						if stopAll.Load() {
							cancel()
							err = <-errc
							if err == nil {
								err = context.Canceled
							}
						}
					}
				}
				cancel()
				nc.Close() // a crash: the connection goes away with its unacked messages
				if errors.Is(err, errKilled) {
					restarts.Add(1)
				} else if !errors.Is(err, context.Canceled) {
					t.Errorf("run: %v", err)
					return
				}
			}
		}()
	}
	eventually(t, 4*time.Minute, "every message settled after the kills", done)
	stopAll.Store(true)
	wg.Wait()
	t.Logf("%d messages, %d kills (%v), %d restarts", len(feed), kills, byPoint, restarts.Load())
	for _, p := range points {
		if byPoint[p] == 0 {
			t.Errorf("no kill at %s", p)
		}
	}
	checkStored(t, e, feed)
	bad := 0
	for _, g := range feed {
		if !g.Valid {
			bad++
		}
	}
	if got := len(rejections(t, e.pool)); got != bad {
		t.Errorf("%d rejection facts, want %d", got, bad)
	}
	fmt.Fprint(os.Stderr, "")
}
