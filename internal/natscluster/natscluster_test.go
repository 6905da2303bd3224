package natscluster_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/internal/natscluster"
)

// TestKillAndRestart checks the helper itself: an R3 stream keeps accepting
// writes with one node killed, and the restarted node catches up.
func TestKillAndRestart(t *testing.T) {
	c := natscluster.Start(t, 3)
	if got := len(c.URLs()); got != 3 {
		t.Fatalf("URLs: got %d, want 3", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()

	nc, err := nats.Connect(c.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "HELPER", Subjects: []string{"helper.>"}, Replicas: 3, Storage: jetstream.FileStorage,
	}); err != nil {
		t.Fatalf("create stream: %v", err)
	}

	for i := range c.Size() {
		c.Kill(i)
		if c.Server(i) != nil {
			t.Fatalf("node %d still running after Kill", i)
		}
		publishUntilAcked(ctx, t, js, "helper.x", fmt.Sprintf("m%d", i))
		c.Restart(i)
		if c.Server(i) == nil || !c.Server(i).Running() {
			t.Fatalf("node %d not running after Restart", i)
		}
		c.WaitForMetaLeader()
	}

	// Every replica reports 3 messages once the last restarted node caught up.
	for {
		info, err := js.Stream(ctx, "HELPER")
		if err == nil {
			si, err := info.Info(ctx)
			if err == nil && si.State.Msgs == 3 && si.Cluster != nil && allCurrent(si.Cluster) {
				return
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("stream did not converge to 3 messages on 3 current replicas: %v", ctx.Err())
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

func allCurrent(ci *jetstream.ClusterInfo) bool {
	if ci.Leader == "" || len(ci.Replicas) != 2 {
		return false
	}
	for _, r := range ci.Replicas {
		if !r.Current || r.Offline {
			return false
		}
	}
	return true
}

func publishUntilAcked(ctx context.Context, t *testing.T, js jetstream.JetStream, subj, id string) {
	t.Helper()
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.Publish(pctx, subj, []byte("x"), jetstream.WithMsgID(id))
		cancel()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("publish %s: %v", subj, errors.Join(err, ctx.Err()))
		}
	}
}
