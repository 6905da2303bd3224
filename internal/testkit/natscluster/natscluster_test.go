package natscluster_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/internal/testkit/natscluster"
)

// TestKillAndRestart checks the helper itself: an R3 stream keeps accepting
// writes with one node killed, and the restarted node catches up.
func TestKillAndRestart(t *testing.T) {
	c := natscluster.Start(t, 3)
	if got := len(c.URLs()); got != 3 {
		t.Fatalf("URLs: got %d, want 3", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
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
		// The restarted node must have caught up before the next one is
		// killed: with one node down and one still behind, the stream has
		// no quorum to spare.
		waitConverged(ctx, t, js, uint64(i+1))
	}
}

// waitConverged polls the stream until it holds want messages on three
// current replicas. Each poll is bounded: right after an election an info
// request can go unanswered.
func waitConverged(ctx context.Context, t *testing.T, js jetstream.JetStream, want uint64) {
	t.Helper()
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		info, err := js.Stream(pctx, "HELPER")
		if err == nil {
			si, err := info.Info(pctx)
			if err == nil && si.State.Msgs == want && si.Cluster != nil && allCurrent(si.Cluster) {
				cancel()
				return
			}
		}
		cancel()
		if ctx.Err() != nil {
			t.Fatalf("stream did not converge to %d messages on 3 current replicas: %v", want, ctx.Err())
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
