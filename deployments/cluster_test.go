package deployments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/consumers/ingest"
	"dealcredit/consumers/oemfeed"
	"dealcredit/domain"
	"dealcredit/eventstore/mirror"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/pgdb"
	"dealcredit/internal/testkit/daemontest"
	"dealcredit/internal/testkit/natscluster"
	"dealcredit/internal/testkit/pgtest"
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
		// A request during a leader election can go unanswered: bound each one.
		ictx, icancel := context.WithTimeout(ctx, 2*time.Second)
		info, err := s.Info(ictx)
		icancel()
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

// TestTwoDaemonsOnNATSClusterSurviveNodeLoss runs the real daemon twice, both
// on one Postgres database and one three-node JetStream cluster with R3
// streams, enrolls two OEMs, publishes a feed with revisions, credit memos
// and byte-for-byte duplicates while the leader of OEM_HP is killed, and
// checks that the log holds every distinct invoice exactly once (count, keys
// and amounts per currency) and that the relay's mirror ends up equal to
// the log.
func TestTwoDaemonsOnNATSClusterSurviveNodeLoss(t *testing.T) {
	invoices := 1600 // about 2,000 messages with revisions and duplicates
	if os.Getenv("DEALCREDIT_SOAK") == "1" {
		invoices = 16000
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	c := natscluster.Start(t, 3)
	dsn := pgtest.NewDatabase(t)
	env := map[string]string{
		"DATABASE_URL":               dsn,
		"NATS_URL":                   c.URL(),
		"DEALCREDIT_STREAM_REPLICAS": "3",
	}
	logs := &failureLog{}
	t.Cleanup(func() { logs.dump(t) })
	// Both daemons run from the start: they provision the OEM feeds
	// concurrently (serialised by the daemon's advisory lock).
	d1 := daemontest.StartLogged(t, env, logs.prefixed("d1"))
	d2 := daemontest.StartLogged(t, env, logs.prefixed("d2"))

	oems := []string{"hp", "dell"}
	admin := d1.Token(t, "admin")
	for _, oem := range oems {
		enroll(t, d1.URL, admin, oem)
	}
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	for _, name := range []string{ingest.StreamName("hp"), ingest.StreamName("dell"), ingest.DLQStream, mirror.StreamName} {
		waitR3Stream(sctx, t, c, name)
	}
	scancel()

	// The test's own connection is made once the streams exist.
	nc, err := nats.Connect(c.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	hpStream, err := js.Stream(ctx, ingest.StreamName("hp"))
	if err != nil {
		t.Fatalf("stream %s: %v", ingest.StreamName("hp"), err)
	}

	msgs := oemfeed.GenerateMessages(oemfeed.GenOptions{
		Seed: 7, Invoices: invoices, OEMs: oems,
		RevisionFraction: 0.1, CreditMemoFraction: 0.05, DuplicateFraction: 0.1,
	})
	want := expectedLog(t, msgs)
	t.Logf("%d messages, %d distinct invoices", len(msgs), len(want.keys))

	// Publish from several publishers; kill the leader of OEM_HP once half
	// of the messages are acknowledged.
	hpLeader := streamLeader(ctx, t, hpStream)
	var (
		acked   atomic.Int64
		retries atomic.Int64
		wg      sync.WaitGroup
		errs    = make(chan error, 8)
		jobs    = make(chan oemfeed.Generated)
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range jobs {
				n, err := publishInvoice(ctx, js, g)
				retries.Add(int64(n))
				if err != nil {
					errs <- err
					for range jobs { // drain so the feeder finishes
					}
					return
				}
				acked.Add(1)
			}
		}()
	}
	killed := make(chan int64, 1)
	go func() {
		defer close(jobs)
		for i, g := range msgs {
			if i == len(msgs)/2 {
				for acked.Load() < int64(i)-8 && ctx.Err() == nil {
					time.Sleep(2 * time.Millisecond) // polling interval
				}
				c.Kill(hpLeader)
				killed <- acked.Load()
			}
			select {
			case jobs <- g:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var killedAt int64
	select {
	case killedAt = <-killed:
	default:
		t.Fatalf("publishing ended before the node was killed: %v", ctx.Err())
	}
	t.Logf("killed node n%d (leader of OEM_HP) after %d acks; %d acked, %d publish retries",
		hpLeader+1, killedAt, acked.Load(), retries.Load())

	// Every distinct invoice reaches the log, exactly once.
	pool, err := pgdb.OpenPool(ctx, dsn)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	defer pool.Close()
	start := time.Now()
	var got int
	for {
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE type = 'invoice.received'`).Scan(&got); err != nil {
			t.Fatalf("count: %v", err)
		}
		if got >= len(want.keys) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("log holds %d of %d invoices: %v", got, len(want.keys), ctx.Err())
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	t.Logf("all %d invoices in the log %s after the last publish", got, time.Since(start).Round(time.Millisecond))
	checkLog(ctx, t, pool, want)

	// Both daemons took part in the ingest (they compete on one durable).
	for i, d := range []*daemontest.Daemon{d1, d2} {
		t.Logf("daemon %d ingested %v messages", i+1, ingestedCount(t, d.URL))
	}

	// The relay's mirror converges on the log, record for record.
	store, err := pgstore.New(pool, pgstore.Options{})
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	defer store.Close()
	for {
		rep, err := mirror.Verify(ctx, store, js)
		if err == nil && !rep.OK() {
			t.Fatalf("mirror differs from the log: %v", rep.Err())
		}
		if err == nil && rep.Behind == 0 && rep.MirrorHead == rep.LogHead {
			t.Logf("mirror verified: %d records", rep.Checked)
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("mirror did not catch up with the log: %+v, err %v", rep, err)
		}
		time.Sleep(200 * time.Millisecond) // polling interval
	}

	if err := d2.Stop(); err != nil {
		t.Errorf("daemon 2 stop: %v", err)
	}
	if err := d1.Stop(); err != nil {
		t.Errorf("daemon 1 stop: %v", err)
	}
}

// wantLog is what the log must hold after a feed: one invoice.received
// event per distinct (oem, invoice number, revision), and the sum of the
// line amounts per currency over those events.
type wantLog struct {
	keys map[string]bool
	sums map[string]int64
}

func invoiceKey(oem, number string, revision int) string {
	return fmt.Sprintf("%s:%s:%d", oem, number, revision)
}

func expectedLog(t *testing.T, msgs []oemfeed.Generated) wantLog {
	t.Helper()
	w := wantLog{keys: map[string]bool{}, sums: map[string]int64{}}
	for _, g := range msgs {
		if !g.Valid {
			t.Fatalf("generator produced a malformed message (%s)", g.Flaw)
		}
		m := g.Message
		k := invoiceKey(g.OEM, m.InvoiceNumber, m.Revision)
		if w.keys[k] {
			if !g.Duplicate {
				t.Fatalf("generator reused key %s for different content", k)
			}
			continue
		}
		w.keys[k] = true
		for _, l := range m.Lines {
			w.sums[m.Currency] += l.AmountMinor
		}
	}
	return w
}

// checkLog compares the invoice.received events in Postgres with w.
func checkLog(ctx context.Context, t *testing.T, pool *pgxpool.Pool, w wantLog) {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT event_id::text, data FROM events WHERE type = 'invoice.received' ORDER BY position`)
	if err != nil {
		t.Fatalf("query events: %v", err)
	}
	defer rows.Close()
	ids := map[string]bool{}
	keys := map[string]bool{}
	sums := map[string]int64{}
	for rows.Next() {
		var id string
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			t.Fatalf("scan: %v", err)
		}
		var inv domain.InvoiceReceived
		if err := json.Unmarshal(data, &inv); err != nil {
			t.Fatalf("event %s: %v", id, err)
		}
		k := invoiceKey(inv.OEMID, inv.InvoiceNumber, inv.Revision)
		if ids[id] || keys[k] {
			t.Fatalf("invoice %s (event %s) stored twice", k, id)
		}
		ids[id], keys[k] = true, true
		if !w.keys[k] {
			t.Fatalf("log holds invoice %s that was never published", k)
		}
		for _, l := range inv.Lines {
			sums[inv.Currency] += l.AmountMinor
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read events: %v", err)
	}
	if len(keys) != len(w.keys) {
		t.Fatalf("log holds %d distinct invoices, want %d", len(keys), len(w.keys))
	}
	if !maps.Equal(sums, w.sums) {
		t.Fatalf("line amounts per currency: got %v, want %v", sums, w.sums)
	}
	var rejected int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE type = 'invoice.rejected'`).Scan(&rejected); err != nil {
		t.Fatalf("count rejected: %v", err)
	}
	if rejected != 0 {
		t.Fatalf("%d invoices were rejected, want none", rejected)
	}
}

// enroll enrolls an OEM partner through the daemon's API.
func enroll(t *testing.T, baseURL, token, oem string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"id": oem, "name": strings.ToUpper(oem), "kind": "oem", "geography": "us-west"})
	req, err := http.NewRequest(http.MethodPost, baseURL+"/v1/partners", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("enroll %s: %v", oem, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("enroll %s: %d %s", oem, resp.StatusCode, b)
	}
}

// waitR3Stream waits until the daemons created stream name with three
// replicas and it has a leader and two current followers. Each poll uses a
// fresh connection and its own short deadline.
func waitR3Stream(ctx context.Context, t *testing.T, c *natscluster.Cluster, name string) {
	t.Helper()
	var last string
	for {
		// Bound each poll: a STREAM.INFO request that reaches the cluster
		// while the stream is being assigned or elects its first leader can
		// go unanswered (only the stream leader answers, and there is none
		// yet). Without its own deadline that one request waits out the whole
		// of ctx, and the failure then reports the previous poll's "stream
		// not found", from before the stream was created.
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := streamInfo(pctx, c.URL(), name)
		pcancel()
		if err == nil {
			info := s
			switch {
			case info.Config.Replicas != 3:
				t.Fatalf("stream %s created with %d replicas, want 3", name, info.Config.Replicas)
			case info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2:
				last = fmt.Sprintf("cluster %+v", info.Cluster)
			default:
				return
			}
		} else if ctx.Err() == nil {
			last = err.Error()
		}
		if ctx.Err() != nil {
			for i := range c.Size() {
				if srv := c.Server(i); srv != nil {
					jsz, err := srv.Jsz(&server.JSzOptions{Accounts: true, Streams: true, RaftGroups: true})
					if err != nil {
						t.Logf("n%d jsz: %v", i+1, err)
						continue
					}
					for _, a := range jsz.AccountDetails {
						for _, st := range a.Streams {
							t.Logf("n%d: account %s stream %s cluster %+v raft %s msgs %d", i+1, a.Name, st.Name, st.Cluster, st.RaftGroup, st.State.Msgs)
						}
					}
					t.Logf("n%d: meta %+v", i+1, jsz.Meta)
				}
			}
			t.Fatalf("stream %s not ready: %s", name, last)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// publishInvoice publishes g as an OEM feed does and retries the same
// message, with the same Nats-Msg-Id, until the cluster acknowledges it; it
// returns the number of retries.
func publishInvoice(ctx context.Context, js jetstream.JetStream, g oemfeed.Generated) (int, error) {
	m := g.Message
	id := oemfeed.MsgID(g.OEM, m.InvoiceNumber, m.Revision)
	for n := 0; ; n++ {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.Publish(pctx, oemfeed.Subject(g.OEM), g.Body, jetstream.WithMsgID(id))
		cancel()
		if err == nil {
			return n, nil
		}
		if ctx.Err() != nil {
			return n, fmt.Errorf("publish %s: %w (last error: %v)", id, ctx.Err(), err)
		}
	}
}

// ingestedCount returns the daemon's dealcredit_ingest_messages_total
// samples from /metrics, by outcome.
func ingestedCount(t *testing.T, baseURL string) map[string]string {
	t.Helper()
	resp, err := http.Get(baseURL + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "dealcredit_ingest_messages_total{"); ok {
			labels, value, _ := strings.Cut(rest, "} ")
			out[labels] = value
		}
	}
	return out
}

// failureLog keeps the daemons' log lines of level WARN and above and
// writes them to the test log if the test failed.
type failureLog struct {
	mu    sync.Mutex
	lines []string
}

type prefixWriter struct {
	l      *failureLog
	prefix string
}

func (l *failureLog) prefixed(prefix string) io.Writer { return prefixWriter{l, prefix} }

func (w prefixWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"level":"WARN"`)) || bytes.Contains(p, []byte(`"level":"ERROR"`)) ||
		bytes.Contains(p, []byte(`provisioned`)) {
		w.l.mu.Lock()
		w.l.lines = append(w.l.lines, w.prefix+" "+strings.TrimSpace(string(p)))
		w.l.mu.Unlock()
	}
	return len(p), nil
}

func (l *failureLog) dump(t *testing.T) {
	if !t.Failed() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	const most = 60
	lines := l.lines
	if len(lines) > most {
		t.Logf("daemon log: %d warnings and errors, the last %d follow", len(lines), most)
		lines = lines[len(lines)-most:]
	}
	for _, line := range lines {
		t.Log(line)
	}
}

// streamInfo asks for a stream's info on a new connection to url.
func streamInfo(ctx context.Context, url, name string) (*jetstream.StreamInfo, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.Info(ctx)
}
