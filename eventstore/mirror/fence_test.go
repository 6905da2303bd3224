package mirror_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/eventstore"
	"dealcredit/eventstore/mirror"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/testkit/logbuf"
	"dealcredit/internal/testkit/logtest"
	"dealcredit/internal/testkit/natstest"
)

// fencedStore opens a store on pool whose writer is fenced by the mirror
// behind js, re-checking every 50 ms.
func fencedStore(tb testing.TB, pool *pgxpool.Pool, js jetstream.JetStream) *pgstore.Store {
	return logtest.OpenStore(tb, pool, pgstore.Options{Fence: mirror.NewFence(js), FenceInterval: 50 * time.Millisecond})
}

// deleteTail removes the log's events after position keep as a superuser
// would (the table refuses DELETE through its triggers otherwise): what a
// failover to a standby that had not received them leaves.
func deleteTail(tb testing.TB, pool *pgxpool.Pool, keep int64) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // committed below
	if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
		tb.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM events WHERE position > $1", keep); err != nil {
		tb.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		tb.Fatal(err)
	}
}

// forkedRecords are n records that continue the chain after (head, hash)
// but are not the mirror's: what a database appends after a failover when
// nothing fences it.
func forkedRecords(head int64, hash []byte, n int) []eventstore.Record {
	recs := make([]eventstore.Record, n)
	now := eventstore.TruncateTime(time.Now())
	for i := range recs {
		r := eventstore.Record{
			Position: head + int64(i) + 1, StreamID: "fork-" + uuid.NewString(), StreamVersion: 1, ID: uuid.New(),
			Type: "test.forked", SchemaVersion: 1, Data: []byte(fmt.Sprintf(`{"n":%d}`, i)), Metadata: []byte(`{}`),
			OccurredAt: now, RecordedAt: now, PrevHash: hash,
		}
		r.Hash = eventstore.HashRecord(hash, r)
		hash = r.Hash
		recs[i] = r
	}
	return recs
}

// TestFenceAndRecoverFromMirror removes the log's tail by hand after the
// relay mirrored it: the writer must refuse to append (a typed error),
// Recover must bring the tail back verbatim, after which appends, the relay
// and verify work again; with a log that forked (other events at the lost
// positions) Recover and the relay refuse, naming the position.
func TestFenceAndRecoverFromMirror(t *testing.T) {
	const n, lost = 60, 9
	for _, tc := range []struct {
		name string
		fork int // events appended by hand after the lost tail, 0 = none
	}{
		{name: "lost tail", fork: 0},
		{name: "forked", fork: lost + 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			pool := mustPool(t, mustDatabase(t))
			store := mustStore(t, pool)
			js := mustJetStream(t, natstest.Start(t).URL())
			relayLog := &logbuf.Buffer{}
			relay := mustRelayOpts(t, store, pool, js, mirror.RelayOptions{
				BatchSize: 500, Logger: slog.New(slog.NewJSONHandler(relayLog, nil)),
			})
			runRelay(t, relay)
			appendEvents(t, store, n)
			waitMirror(t, js, n, 30*time.Second)
			orig, err := store.ReadAll(ctx, n-lost, 100)
			if err != nil || len(orig) != lost {
				t.Fatalf("read tail: %d records, %v", len(orig), err)
			}

			deleteTail(t, pool, n-lost)
			if tc.fork > 0 {
				if _, err := store.Restore(ctx, forkedRecords(n-lost, orig[0].PrevHash, tc.fork)); err != nil {
					t.Fatalf("append the fork by hand: %v", err)
				}
			}

			// A writer that connects now refuses to append.
			fenced := fencedStore(t, pool, js)
			_, err = fenced.Append(ctx, "deal-after", eventstore.NoStream, eventstore.Event{ID: uuid.New(), Type: "test.after", SchemaVersion: 1, Data: []byte(`{}`)})
			var fe *eventstore.FencedError
			if !errors.As(err, &fe) || !errors.Is(err, eventstore.ErrFenced) {
				t.Fatalf("append on a log behind its mirror: err = %v, want a *eventstore.FencedError", err)
			}
			if fe.MirrorHead != n || fe.LogHead != int64(n-lost+tc.fork) {
				t.Fatalf("fenced error = %+v, want log head %d, mirror head %d", fe, n-lost+tc.fork, n)
			}
			if fenced.Fenced() == nil {
				t.Fatal("Fenced() = nil while appends are refused")
			}
			if head, err := fenced.Head(ctx); err != nil || head != int64(n-lost+tc.fork) {
				t.Fatalf("head after the refused append = %d, %v; want %d", head, err, n-lost+tc.fork)
			}

			if tc.fork > 0 {
				// The relay must not extend the mirror with the fork.
				waitFor(t, 10*time.Second, "the relay to refuse the fork", func() bool {
					return strings.Contains(relayLog.String(), fmt.Sprintf("the log's event at position %d does not continue the mirror's chain", n+1))
				})
				if got := mirrorLast(ctx, js); got != n {
					t.Fatalf("mirror at %d after the fork, want %d", got, n)
				}
				_, err := mirror.Recover(ctx, fenced, js)
				var ce *eventstore.ChainError
				if !errors.As(err, &ce) || ce.Position != n-lost+1 {
					t.Fatalf("recover on a forked log: err = %v, want a chain error at position %d", err, n-lost+1)
				}
				if head, _ := fenced.Head(ctx); head != int64(n-lost+tc.fork) {
					t.Fatalf("refused recover changed the log: head %d", head)
				}
				if !strings.Contains(fenced.Fenced().Error(), fmt.Sprintf("position %d differs", n)) {
					t.Fatalf("fence reason = %v, want the fork at position %d", fenced.Fenced(), n)
				}
				return
			}

			// The relay has nothing to publish: the log is behind.
			waitFor(t, 10*time.Second, "the relay to notice the lost tail", func() bool {
				return strings.Contains(relayLog.String(), fmt.Sprintf("mirror is at position %d but the log's head is %d", n, n-lost))
			})

			rep, err := mirror.Recover(ctx, fenced, js)
			if err != nil {
				t.Fatalf("recover: %v", err)
			}
			if rep.Restored != lost || rep.LogHead != n-lost || rep.MirrorHead != n {
				t.Fatalf("recover = %+v, want %d restored from %d", rep, lost, n-lost)
			}
			back, err := store.ReadAll(ctx, n-lost, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(back) != lost {
				t.Fatalf("after recover the tail has %d events, want %d", len(back), lost)
			}
			for i, r := range back {
				o := orig[i]
				if r.Position != o.Position || r.ID != o.ID || !bytes.Equal(r.Hash, o.Hash) || !r.RecordedAt.Equal(o.RecordedAt) ||
					!r.OccurredAt.Equal(o.OccurredAt) || r.StreamID != o.StreamID || r.StreamVersion != o.StreamVersion || !bytes.Equal(r.Data, o.Data) {
					t.Fatalf("restored position %d = %+v, want the original %+v", o.Position, r, o)
				}
			}

			// The fenced writer re-checks by itself and appends again.
			waitFor(t, 10*time.Second, "the writer to unfence", func() bool { return fenced.Fenced() == nil })
			res, err := fenced.Append(ctx, "deal-after", eventstore.NoStream, eventstore.Event{ID: uuid.New(), Type: "test.after", SchemaVersion: 1, Data: []byte(`{}`)})
			if err != nil || res.LastPosition() != n+1 {
				t.Fatalf("append after recover: position %d, %v; want %d", res.LastPosition(), err, n+1)
			}
			waitMirror(t, js, n+1, 30*time.Second)
			if vrep, err := store.Verify(ctx, nil); err != nil || !vrep.OK() {
				t.Fatalf("verify chain: %+v, %v", vrep, err)
			}
			assertExact(t, store, js, n+1)

			again, err := mirror.Recover(ctx, fenced, js)
			if err != nil || again.Restored != 0 {
				t.Fatalf("second recover = %+v, %v; want a no-op", again, err)
			}
		})
	}
}

// waitFor polls cond until it holds, failing the test after within.
func waitFor(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, bounded by the deadline
	}
}

// TestFenceHoldsWhileMirrorUnreachable starts a writer while NATS is down:
// it must not append blindly (it cannot know whether the mirror is ahead),
// and it appends once the mirror answers again, without a restart.
func TestFenceHoldsWhileMirrorUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := mustPool(t, mustDatabase(t))
	srv := natstest.Start(t)
	js := mustJetStream(t, srv.URL())
	srv.Shutdown()
	srv.WaitForShutdown()

	store := fencedStore(t, pool, js)
	ev := func() eventstore.Event {
		return eventstore.Event{ID: uuid.New(), Type: "test.after", SchemaVersion: 1, Data: []byte(`{}`)}
	}
	_, err := store.Append(ctx, "deal-1", eventstore.Any, ev())
	var fe *eventstore.FencedError
	if !errors.As(err, &fe) || !strings.Contains(fe.Reason, "cannot be checked") {
		t.Fatalf("append with the mirror unreachable: %v, want a fence naming the unreachable mirror", err)
	}
	if head, err := store.Head(ctx); err != nil || head != 0 {
		t.Fatalf("log head %d, %v after a refused append; want 0", head, err)
	}

	srv.Restart(t)
	waitFor(t, 30*time.Second, "the writer to unfence once the mirror answers", func() bool { return store.Fenced() == nil })
	if res, err := store.Append(ctx, "deal-1", eventstore.Any, ev()); err != nil || res.LastPosition() != 1 {
		t.Fatalf("append after the mirror is back: position %d, %v", res.LastPosition(), err)
	}
}

// An empty log beside a mirror that holds events is fenced with both of its
// causes named: a database that lost its whole log (recover) or a new
// database given another log's mirror (where recover would copy that log).
func TestFenceOnEmptyLogNamesBothCauses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool := mustPool(t, mustDatabase(t))
	store := mustStore(t, pool)
	js := mustJetStream(t, natstest.Start(t).URL())
	runRelay(t, mustRelayOpts(t, store, pool, js, mirror.RelayOptions{}))
	appendEvents(t, store, 5)
	waitMirror(t, js, 5, 30*time.Second)

	fresh := fencedStore(t, mustPool(t, mustDatabase(t)), js)
	_, err := fresh.Append(ctx, "deal-new", eventstore.NoStream, eventstore.Event{ID: uuid.New(), Type: "test.new", SchemaVersion: 1, Data: []byte(`{}`)})
	var fe *eventstore.FencedError
	if !errors.As(err, &fe) || fe.LogHead != 0 || fe.MirrorHead != 5 {
		t.Fatalf("append on an empty log beside a mirror of 5: err = %v, want a *eventstore.FencedError at log head 0, mirror head 5", err)
	}
	for _, want := range []string{"recover --from-mirror", "new database", "DEALCREDIT_DATA_DIR"} {
		if !strings.Contains(fe.Reason, want) {
			t.Errorf("reason %q does not say %q", fe.Reason, want)
		}
	}
}
