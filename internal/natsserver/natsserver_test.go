package natsserver_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/internal/natsserver"
)

func TestStartPersistsAcrossRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))

	srv, err := natsserver.Start(ctx, natsserver.Options{DataDir: dir, Port: natsserver.RandomPort, Logger: logger})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	publish(ctx, t, srv.ClientURL(), 3)
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil {
		t.Fatalf("store not under data dir/jetstream: %v", err)
	}
	if !bytes.Contains(logs.Bytes(), []byte("component=nats-server")) {
		t.Errorf("server logs not routed to the slog logger:\n%s", logs.String())
	}

	srv, err = natsserver.Start(ctx, natsserver.Options{DataDir: dir, Port: natsserver.RandomPort})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer srv.Shutdown(context.Background())
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	s, err := js.Stream(ctx, "T")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	if info.State.Msgs != 3 {
		t.Fatalf("messages after restart = %d, want 3", info.State.Msgs)
	}
}

func TestStartRejectsMissingDataDir(t *testing.T) {
	if _, err := natsserver.Start(context.Background(), natsserver.Options{}); err == nil {
		t.Fatal("start without data dir succeeded")
	}
}

func publish(ctx context.Context, t *testing.T, url string, n int) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	for i := 0; i < n; i++ {
		if _, err := js.Publish(ctx, "t.x", []byte("x")); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
}
