package daemon

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"dealcredit/eventstore"
	"dealcredit/eventstore/mirror"
	"dealcredit/internal/testkit/logtest"
	"dealcredit/internal/testkit/natstest"
)

func TestScheduledVerifyExportsSuccessAndFailure(t *testing.T) {
	ctx := context.Background()
	log := logtest.New(t)
	for i := range 20 {
		if _, err := log.Store.Append(ctx, "partner-p"+string(rune('a'+i)), eventstore.NoStream,
			eventstore.Event{ID: uuid.New(), Type: "test.happened", SchemaVersion: 1, Data: []byte(`{"n":1}`)}); err != nil {
			t.Fatal(err)
		}
	}
	srv := natstest.Start(t)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	relay, err := mirror.NewRelay(log.Store, log.Pool, js, mirror.RelayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- relay.Run(rctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for relay.Status().Mirrored < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("relay mirrored %d of 20", relay.Status().Mirrored)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, bounded by the deadline
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	v, err := newVerifier(log.Store, js, time.Hour, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	v.once(ctx)
	if got := value(t, v.success); got == 0 {
		t.Fatal("a clean log and mirror must set the last-success timestamp")
	}
	if got := value(t, v.failures); got != 0 {
		t.Fatalf("failures = %v on a clean log", got)
	}

	conn, err := pgx.Connect(ctx, log.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{
		"ALTER TABLE events DISABLE TRIGGER USER",
		`UPDATE events SET data = '{"n":2}' WHERE position = 5`,
		"ALTER TABLE events ENABLE TRIGGER USER",
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	v.once(ctx)
	if got := value(t, v.failures); got != 1 {
		t.Fatalf("failures = %v after tampering with position 5, want 1", got)
	}
}

// value reads a counter's or gauge's current value.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	if out.Counter != nil {
		return out.Counter.GetValue()
	}
	return out.Gauge.GetValue()
}
