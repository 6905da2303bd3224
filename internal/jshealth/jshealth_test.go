package jshealth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/internal/jshealth"
	"dealcredit/internal/testkit/natscluster"
	"dealcredit/internal/testkit/natstest"
)

// TestCheckNamesWhatFails probes a healthy JetStream, then one whose
// streams in use are missing or full.
func TestCheckNamesWhatFails(t *testing.T) {
	srv := natstest.Start(t)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SMALL", Subjects: []string{"small"},
		MaxBytes: 64 << 10, Discard: jetstream.DiscardNew}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		streams []string
		fill    bool
		want    string // "" = healthy
	}{
		{"healthy", []string{"SMALL"}, false, ""},
		{"missing stream", []string{"SMALL", "OEM_NOPE"}, false, "stream OEM_NOPE: "},
		{"full stream", []string{"SMALL"}, true, "stream SMALL is full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fill {
				for {
					if _, err := js.Publish(ctx, "small", make([]byte, 4<<10)); err != nil {
						break
					}
				}
			}
			p := jshealth.New(js, jshealth.Options{Streams: func() []string { return tt.streams }})
			err := p.Check(ctx)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Check = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Check = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := js.Stream(ctx, jshealth.ProbeStream); err != nil {
		t.Fatalf("the write probe did not create %s: %v", jshealth.ProbeStream, err)
	}
}

// TestCheckFailsFastWithoutQuorum: a node of a 3-node cluster that loses
// the other two (as a partitioned stream leader does) keeps its clients
// connected and answers nothing about the streams; the check fails within
// its 1 s timeout, and passes again once the nodes are back.
func TestCheckFailsFastWithoutQuorum(t *testing.T) {
	c := natscluster.Start(t, 3)
	nc, err := nats.Connect(c.URLs()[0], nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	p := jshealth.New(js, jshealth.Options{Streams: func() []string { return []string{"S"} }, Replicas: 3})
	healthy := func() bool { return p.Check(ctx) == nil }
	deadline := time.Now().Add(30 * time.Second)
	for !healthy() {
		if time.Now().After(deadline) {
			t.Fatalf("never healthy: %v", p.Check(ctx))
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}

	c.Kill(1)
	c.Kill(2)
	start := time.Now()
	err = p.Check(ctx)
	if took := time.Since(start); err == nil || took > 2*time.Second {
		t.Fatalf("Check without quorum = %v after %s, want an error within 2 s", err, took)
	}
	t.Logf("without quorum: %v (after %s)", err, time.Since(start).Round(time.Millisecond))

	c.Restart(1)
	c.Restart(2)
	deadline = time.Now().Add(30 * time.Second)
	for !healthy() {
		if time.Now().After(deadline) {
			t.Fatalf("not healthy again 30 s after the nodes came back: %v", p.Check(ctx))
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
}
