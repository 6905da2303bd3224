package mirror_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/eventstore"
	"dealcredit/eventstore/mirror"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/testkit/logtest"
)

// soak reports whether the long sizes of `make soak` were asked for.
func soak() bool { return os.Getenv("DEALCREDIT_SOAK") == "1" }

// mustDatabase, mustPool and mustStore give each test a real event log.
func mustDatabase(tb testing.TB) string { return logtest.MigratedDatabase(tb) }

func mustPool(tb testing.TB, dsn string) *pgxpool.Pool { return logtest.OpenPool(tb, dsn) }

func mustStore(tb testing.TB, pool *pgxpool.Pool) *pgstore.Store {
	return logtest.OpenStore(tb, pool, pgstore.Options{})
}

// mustJetStream connects to url, reconnecting forever, closed at cleanup.
func mustJetStream(tb testing.TB, url string) jetstream.JetStream {
	tb.Helper()
	nc, err := nats.Connect(url,
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20*time.Millisecond),
		nats.RetryOnFailedConnect(true))
	if err != nil {
		tb.Fatalf("connect nats: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		tb.Fatalf("jetstream: %v", err)
	}
	return js
}

var categories = []string{"deal", "partner", "invoice", "policy", "quarter"}

// appendEvents appends n events to a handful of streams in chunks and
// returns the log's head.
func appendEvents(tb testing.TB, s *pgstore.Store, n int) int64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const chunk = 500
	var last int64
	for i := 0; i < n; i += chunk {
		k := min(chunk, n-i)
		evs := make([]eventstore.Event, k)
		for j := range evs {
			evs[j] = eventstore.Event{
				ID:            uuid.New(),
				Type:          "test.numbered",
				SchemaVersion: 1,
				Data:          []byte(fmt.Sprintf(`{"n": %d, "pad": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`, i+j)),
				Metadata:      eventstore.Metadata{Actor: "test", CorrelationID: fmt.Sprint(i)},
				OccurredAt:    time.Date(2026, 2, 14, 10, 0, 0, 123456789, time.UTC),
			}
		}
		stream := fmt.Sprintf("%s-%d", categories[(i/chunk)%len(categories)], i/chunk)
		res, err := s.Append(ctx, stream, eventstore.Any, evs...)
		if err != nil {
			tb.Fatalf("append %s: %v", stream, err)
		}
		last = res.LastPosition()
	}
	return last
}

// runRelay starts r.Run in the background; the returned stop cancels it
// abruptly and waits for Run to return.
func runRelay(tb testing.TB, r *mirror.Relay) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("relay run: %v", err)
		}
	}
	tb.Cleanup(stop)
	return stop
}

func mustRelay(tb testing.TB, src mirror.Source, pool *pgxpool.Pool, js jetstream.JetStream, reg prometheus.Registerer) *mirror.Relay {
	tb.Helper()
	return mustRelayOpts(tb, src, pool, js, mirror.RelayOptions{Registerer: reg, BatchSize: 500})
}

// mustRelayOpts returns a relay with opts and, unless set, short retry
// delays for tests.
func mustRelayOpts(tb testing.TB, src mirror.Source, pool *pgxpool.Pool, js jetstream.JetStream, opts mirror.RelayOptions) *mirror.Relay {
	tb.Helper()
	if opts.AckTimeout == 0 {
		opts.AckTimeout = 3 * time.Second
	}
	if opts.StandbyPoll == 0 {
		opts.StandbyPoll = 50 * time.Millisecond
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 200 * time.Millisecond
	}
	r, err := mirror.NewRelay(src, pool, js, opts)
	if err != nil {
		tb.Fatalf("new relay: %v", err)
	}
	return r
}

// mirrorLast returns the mirror's last sequence, 0 while it cannot be read.
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

// waitMirror polls until the mirror holds at least n messages.
func waitMirror(tb testing.TB, js jetstream.JetStream, n int64, within time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		got := mirrorLast(ctx, js)
		cancel()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("mirror at %d, want >= %d after %s", got, n, within)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// assertExact checks that the mirror equals the log event for event.
func assertExact(tb testing.TB, s *pgstore.Store, js jetstream.JetStream, want int64) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := mirror.Verify(ctx, s, js)
	if err != nil {
		tb.Fatalf("verify: %v", err)
	}
	if !rep.OK() || rep.Checked != want || rep.MirrorHead != want || rep.LogHead != want || rep.Behind != 0 {
		tb.Fatalf("verify = %+v, want OK with %d checked", rep, want)
	}
	st, err := js.Stream(ctx, mirror.StreamName)
	if err != nil {
		tb.Fatalf("stream: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		tb.Fatalf("info: %v", err)
	}
	if int64(info.State.Msgs) != want || info.State.FirstSeq != 1 {
		tb.Fatalf("mirror state msgs=%d first=%d, want %d messages from 1", info.State.Msgs, info.State.FirstSeq, want)
	}
}
