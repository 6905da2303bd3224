package ingest_test

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/consumers/ingest"
	"dealcredit/internal/testkit/logbuf"
)

// publishN publishes n valid invoices HP-<from>... on oem.hp.invoices.
func publishN(t *testing.T, js jetstream.JetStream, from, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	futures := make([]jetstream.PubAckFuture, 0, n)
	for i := from; i < from+n; i++ {
		f, err := js.PublishAsync("oem.hp.invoices", body("hp", "HP-"+strconv.Itoa(i), 1, int64(i+1)))
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
}

func consumerInfo(t *testing.T, js jetstream.JetStream) *jetstream.ConsumerInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, ingest.StreamName("hp"), "dealcredit-ingest")
	if err != nil {
		t.Fatal(err)
	}
	return c.CachedInfo()
}

// TestGracefulStopHandsBackFetched stops a consumer while its pipeline and
// its pull subscription hold fetched messages: nothing may stay awaiting
// acknowledgement (AckWait is a minute here), and a second instance stores
// every message at once. Before, the messages buffered in the subscription
// were dropped and came back only after AckWait.
func TestGracefulStopHandsBackFetched(t *testing.T) {
	e := mustEnv(t)
	const n = 1000
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	hold := func(point string) error {
		if point == ingest.FaultBeforeCommit {
			once.Do(func() { close(entered); <-release })
		}
		return nil
	}
	opts := ingest.Options{BatchSize: 100, AckWait: time.Minute}
	a, _ := e.consumer(t, nil, ingest.Options{BatchSize: 100, AckWait: time.Minute, Fault: hold}, "hp")
	_, js := e.connect(t)
	publishN(t, js, 0, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- a.Run(ctx) }()
	<-entered
	// The first commit is held: the stages behind it and the subscription fill up.
	eventually(t, 10*time.Second, "the pipeline full of fetched messages", func() bool {
		return consumerInfo(t, js).NumAckPending >= 500
	})
	cancel() // the stop begins while the commit is held, then the commit goes on
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	// Handed back (Nak) messages stay "awaiting ack" until redelivered, so
	// only the second instance can tell whether they were handed back: if
	// they were not, they would come back only after AckWait. Whether the
	// subscription had also fetched the last undelivered ones by then
	// depends on timing and does not matter.
	if info := consumerInfo(t, js); info.NumAckPending == 0 {
		t.Fatalf("after the stop: %d awaiting ack, %d undelivered: the test did not stop the consumer with messages in flight", info.NumAckPending, info.NumPending)
	}
	b, _ := e.consumer(t, nil, opts, "hp")
	start := time.Now()
	run(t, b)
	eventually(t, 10*time.Second, "the second instance stored every message, long before AckWait (1 min)", func() bool {
		return drained(t, js, "hp")
	})
	t.Logf("the second instance took over in %s", time.Since(start).Round(time.Millisecond))
	if got := len(invoices(t, e.pool)); got != n {
		t.Fatalf("stored %d invoices, want %d", got, n)
	}
}

// gauge reads dealcredit_ingest_pending_messages{oem}; -1 when absent.
func gauge(reg *prometheus.Registry, oem string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "dealcredit_ingest_pending_messages" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "oem" && l.GetValue() == oem {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// TestPendingGaugeFollowsConsumer: the pending gauge shows the backlog
// while nothing is consumed, and drops to 0 once everything is
// acknowledged, with no message arriving after that. Before, it was set
// at most once a second, only when a batch was acknowledged, and stayed
// at the value of the first batch.
func TestPendingGaugeFollowsConsumer(t *testing.T) {
	e := mustEnv(t)
	reg := prometheus.NewRegistry()
	c, _ := e.consumer(t, reg, ingest.Options{BatchSize: 10, PendingInterval: 100 * time.Millisecond}, "hp")
	_, js := e.connect(t)
	publishN(t, js, 0, 60)
	stop := run(t, c)
	eventually(t, 30*time.Second, "all acknowledged", func() bool { return drained(t, js, "hp") })
	eventually(t, 3*time.Second, "the pending gauge at 0", func() bool { return gauge(reg, "hp") == 0 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestDeadLetterLogLine: each dead letter gets one log line naming the OEM,
// the invoice, the revision and the reason; a flood is rate-limited, and
// the lines left out are counted.
func TestDeadLetterLogLine(t *testing.T) {
	e := mustEnv(t)
	var logs logbuf.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	c, _ := e.consumer(t, nil, ingest.Options{Logger: logger, DeadLetterLogRate: 2, AckWait: 5 * time.Second}, "hp")
	_, js := e.connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 40
	for i := range n {
		bad := strings.Replace(string(body("hp", "HP-BAD-"+strconv.Itoa(i), 3, 3)), `"amount_minor":13500`, `"amount_minor":13501`, 1)
		if _, err := js.Publish(ctx, "oem.hp.invoices", []byte(bad)); err != nil {
			t.Fatal(err)
		}
	}
	stop := run(t, c)
	eventually(t, 30*time.Second, "all dead-lettered", func() bool { return drained(t, js, "hp") })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	lines := logs.Records("ingest: invoice dead-lettered")
	if len(lines) == 0 {
		t.Fatal("no log line for a dead letter")
	}
	first := lines[0]
	if first["oem"] != "hp" || first["invoice"] != "HP-BAD-0" || first["revision"] != float64(3) ||
		!strings.Contains(first["reason"].(string), "amount_minor") || first["level"] != "WARN" {
		t.Errorf("dead-letter line %v: want oem hp, invoice HP-BAD-0, revision 3, a reason naming amount_minor, level WARN", first)
	}
	suppressed := 0
	for _, l := range lines {
		if s, ok := l["suppressed"].(float64); ok {
			suppressed += int(s)
		}
	}
	if len(lines) >= n || len(lines)+suppressed > n {
		t.Errorf("%d lines and %d counted as suppressed for %d dead letters at 2 a second: not rate-limited", len(lines), suppressed, n)
	}
}

// TestResumesAfterServerRestart restarts the JetStream server under a
// running consumer: messages published after the restart are stored
// within 5 seconds of the server being back.
func TestResumesAfterServerRestart(t *testing.T) {
	e := mustEnv(t)
	nc, err := nats.Connect(e.nats.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ingest.New(js, e.store, ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Provision(ctx, "hp"); err != nil {
		t.Fatal(err)
	}
	run(t, c)
	_, pjs := e.connect(t)
	publishN(t, pjs, 0, 10)
	eventually(t, 30*time.Second, "the first messages stored", func() bool { return len(invoices(t, e.pool)) == 10 })

	e.nats = e.nats.Restart(t)
	back := time.Now()
	_, pjs = e.connect(t)
	publishN(t, pjs, 10, 10)
	eventually(t, 5*time.Second, "the messages published after the restart stored", func() bool { return len(invoices(t, e.pool)) == 20 })
	t.Logf("ingest resumed %s after the server was back", time.Since(back).Round(time.Millisecond))
}
