package deployments_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/internal/natscluster"
)

// TestClusterKillNodeWhilePublishing publishes to an R3 stream on a real
// three-node JetStream cluster from several publishers, kills the stream
// leader half-way, keeps publishing, and checks that every acknowledged
// message is stored exactly once, at the sequence its ack named.
func TestClusterKillNodeWhilePublishing(t *testing.T) {
	const publishers = 4
	perPublisher := 250
	if os.Getenv("DEALCREDIT_SOAK") == "1" {
		perPublisher = 5000
	}
	total := publishers * perPublisher

	c := natscluster.Start(t, 3)
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
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:       "OEM_HP",
		Subjects:   []string{"oem.hp.invoices"},
		Replicas:   3,
		Storage:    jetstream.FileStorage,
		Duplicates: 5 * time.Minute,
	})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	leader := streamLeader(ctx, t, stream)

	var (
		acked   atomic.Int64
		retries atomic.Int64
		mu      sync.Mutex
		ackSeq  = make(map[string]uint64, total) // msg id -> sequence from its ack
		wg      sync.WaitGroup
		errs    = make(chan error, publishers)
	)
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perPublisher {
				id := fmt.Sprintf("hp:INV-%d-%05d:1", p, i)
				ack, n, err := publishUntilAcked(ctx, js, "oem.hp.invoices", id)
				retries.Add(int64(n))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if prev, ok := ackSeq[id]; ok && prev != ack.Sequence {
					mu.Unlock()
					errs <- fmt.Errorf("%s acked twice at sequences %d and %d", id, prev, ack.Sequence)
					return
				}
				ackSeq[id] = ack.Sequence
				mu.Unlock()
				acked.Add(1)
			}
		}()
	}

	// Kill the stream leader once half the messages are acknowledged.
	for acked.Load() < int64(total/2) {
		if ctx.Err() != nil {
			t.Fatalf("only %d of %d acked before the kill: %v", acked.Load(), total, ctx.Err())
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	c.Kill(leader)
	killedAt := acked.Load()

	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if acked.Load() <= killedAt {
		t.Fatalf("no message acked after the kill (acked %d at kill)", killedAt)
	}
	t.Logf("killed node %d after %d acks; %d acked, %d publish retries", leader, killedAt, acked.Load(), retries.Load())

	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if info.State.Msgs != uint64(total) || info.State.FirstSeq != 1 || info.State.LastSeq != uint64(total) {
		t.Fatalf("stream state: %d msgs, seq %d..%d; want %d msgs, seq 1..%d",
			info.State.Msgs, info.State.FirstSeq, info.State.LastSeq, total, total)
	}
	seen := make(map[string]uint64, total)
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get seq %d: %v", seq, err)
		}
		id := msg.Header.Get(jetstream.MsgIDHeader)
		if prev, dup := seen[id]; dup {
			t.Fatalf("message %q stored twice, at sequences %d and %d", id, prev, seq)
		}
		seen[id] = seq
	}
	for id, seq := range ackSeq {
		got, ok := seen[id]
		if !ok {
			t.Fatalf("acked message %q missing from the stream", id)
		}
		if seq != 0 && got != seq {
			t.Fatalf("message %q acked at sequence %d but stored at %d", id, seq, got)
		}
	}
	if len(seen) != len(ackSeq) {
		t.Fatalf("stream holds %d distinct messages, %d were acked", len(seen), len(ackSeq))
	}
}

// streamLeader returns the index of the node leading the stream (nodes are
// named n1, n2, n3 by natscluster).
func streamLeader(ctx context.Context, t *testing.T, s jetstream.Stream) int {
	t.Helper()
	for {
		info, err := s.Info(ctx)
		if err == nil && info.Cluster != nil && info.Cluster.Leader != "" {
			var i int
			if _, err := fmt.Sscanf(info.Cluster.Leader, "n%d", &i); err != nil {
				t.Fatalf("leader name %q: %v", info.Cluster.Leader, err)
			}
			return i - 1
		}
		if ctx.Err() != nil {
			t.Fatalf("no stream leader: %v", ctx.Err())
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// publishUntilAcked publishes with a Nats-Msg-Id and retries the same
// message until the cluster acknowledges it, as a feed publisher must; it
// returns the ack and the number of retries.
func publishUntilAcked(ctx context.Context, js jetstream.JetStream, subj, id string) (*jetstream.PubAck, int, error) {
	for n := 0; ; n++ {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ack, err := js.Publish(pctx, subj, []byte(`{"invoice_number":"`+id+`"}`), jetstream.WithMsgID(id))
		cancel()
		if err == nil {
			return ack, n, nil
		}
		if ctx.Err() != nil {
			return nil, n, fmt.Errorf("publish %s: %w (last error: %v)", id, ctx.Err(), err)
		}
	}
}
