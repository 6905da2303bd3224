package mirror_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/eventstore"
	"dealcredit/eventstore/mirror"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/testkit/natstest"
)

// TestVerifyCatchesTampering tampers with Postgres as superuser (triggers
// disabled) after the mirror has the log, and expects the mirror check to
// name the first bad position.
func TestVerifyCatchesTampering(t *testing.T) {
	const n = 300
	tests := []struct {
		name       string
		tamper     func(t *testing.T, pool *pgxpool.Pool, store *pgstore.Store)
		chainHolds bool // whether the Postgres chain alone still verifies
		wantBad    int64
		wantReason string
	}{
		{
			name:       "delete newest event",
			tamper:     func(t *testing.T, pool *pgxpool.Pool, _ *pgstore.Store) { deleteNewest(t, pool) },
			chainHolds: true,
			wantBad:    n,
			wantReason: "tail deleted",
		},
		{
			name:       "rewrite the chain consistently from position 150",
			tamper:     func(t *testing.T, pool *pgxpool.Pool, s *pgstore.Store) { rewriteChain(t, pool, s, 150) },
			chainHolds: true,
			wantBad:    150,
			wantReason: "log rewritten",
		},
		{
			name:       "rewrite the newest event consistently",
			tamper:     func(t *testing.T, pool *pgxpool.Pool, s *pgstore.Store) { rewriteChain(t, pool, s, n) },
			chainHolds: true,
			wantBad:    n,
			wantReason: "log rewritten",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			pool := mustPool(t, mustDatabase(t))
			store := mustStore(t, pool)
			srv := natstest.Start(t)
			js := mustJetStream(t, srv.URL())
			head := appendEvents(t, store, n)
			stop := runRelay(t, mustRelay(t, store, pool, js, nil))
			waitMirror(t, js, head, time.Minute)
			stop()
			assertExact(t, store, js, head) // control: untampered passes

			tt.tamper(t, pool, store)

			chain, err := store.Verify(ctx, nil)
			if err != nil {
				t.Fatalf("chain verify: %v", err)
			}
			if chain.OK() != tt.chainHolds {
				t.Fatalf("postgres chain verify OK = %v, want %v (%+v)", chain.OK(), tt.chainHolds, chain)
			}
			rep, err := mirror.Verify(ctx, store, js)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if rep.OK() || rep.BadPosition != tt.wantBad || !strings.Contains(rep.Reason, tt.wantReason) {
				t.Fatalf("verify = %+v, want bad position %d with %q", rep, tt.wantBad, tt.wantReason)
			}
			if err := rep.Err(); err == nil || !strings.Contains(err.Error(), fmt.Sprint(tt.wantBad)) {
				t.Fatalf("report error %v does not name position %d", err, tt.wantBad)
			}
		})
	}
}

// TestVerifyToleratesLag: a mirror behind the log is not tampering; the
// compared prefix is vouched for and the lag reported.
func TestVerifyToleratesLag(t *testing.T) {
	ctx := context.Background()
	pool := mustPool(t, mustDatabase(t))
	store := mustStore(t, pool)
	srv := natstest.Start(t)
	js := mustJetStream(t, srv.URL())

	rep, err := mirror.Verify(ctx, store, js)
	if err != nil || !rep.OK() || rep.Checked != 0 {
		t.Fatalf("empty log, no stream: %+v, %v", rep, err)
	}
	head := appendEvents(t, store, 100)
	rep, err = mirror.Verify(ctx, store, js)
	if err != nil || rep.OK() || rep.BadPosition != 1 {
		t.Fatalf("log without mirror stream: %+v, %v; want bad position 1", rep, err)
	}

	stop := runRelay(t, mustRelay(t, store, pool, js, nil))
	waitMirror(t, js, head, time.Minute)
	stop()
	more := appendEvents(t, store, 50)
	rep, err = mirror.Verify(ctx, store, js)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !rep.OK() || rep.Checked != head || rep.Behind != more-head || rep.LogHead != more {
		t.Fatalf("verify = %+v, want OK, %d checked, %d behind", rep, head, more-head)
	}
}

func TestEnsureStream(t *testing.T) {
	ctx := context.Background()
	srv := natstest.Start(t)
	js := mustJetStream(t, srv.URL())
	for i := 0; i < 2; i++ { // idempotent
		if _, err := mirror.EnsureStream(ctx, js, 1); err != nil {
			t.Fatalf("ensure #%d: %v", i+1, err)
		}
	}
	s, err := js.Stream(ctx, mirror.StreamName)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	cfg := s.CachedInfo().Config
	if !cfg.DenyDelete || !cfg.DenyPurge || cfg.Storage != jetstream.FileStorage ||
		len(cfg.Subjects) != 1 || cfg.Subjects[0] != "dealcredit.events.>" || cfg.Duplicates <= 0 {
		t.Fatalf("config = %+v", cfg)
	}
	if _, err := js.Publish(ctx, "dealcredit.events.deal", []byte(`{}`)); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if err := s.DeleteMsg(ctx, 1); err == nil {
		t.Error("deleting a mirror message succeeded")
	}
	if err := s.Purge(ctx); err == nil {
		t.Error("purging the mirror succeeded")
	}
}

func deleteNewest(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	superuserExec(t, pool, `DELETE FROM events WHERE position = (SELECT max(position) FROM events)`)
}

// rewriteChain changes the data of the event at from and recomputes every
// hash from there on, so the Postgres chain holds again.
func rewriteChain(t *testing.T, pool *pgxpool.Pool, s *pgstore.Store, from int64) {
	t.Helper()
	ctx := context.Background()
	recs, err := s.ReadAll(ctx, from-1, 0)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	prev := recs[0].PrevHash
	var stmts []string
	for i, r := range recs {
		if i == 0 {
			r.Data = []byte(`{"n": -1, "forged": true}`)
		}
		r.PrevHash = prev
		r.Hash = eventstore.HashRecord(prev, r)
		prev = r.Hash
		stmts = append(stmts, fmt.Sprintf(`UPDATE events SET data = '%s', prev_hash = '\x%x', hash = '\x%x' WHERE position = %d`,
			r.Data, r.PrevHash, r.Hash, r.Position))
	}
	superuserExec(t, pool, stmts...)
}

func superuserExec(t *testing.T, pool *pgxpool.Pool, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer tx.Rollback(ctx)
	all := append([]string{`ALTER TABLE events DISABLE TRIGGER events_no_update_delete`}, stmts...)
	all = append(all, `ALTER TABLE events ENABLE TRIGGER events_no_update_delete`)
	for _, q := range all {
		if _, err := tx.Exec(ctx, q); err != nil {
			t.Fatalf("tamper %q: %v", q, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit tamper: %v", err)
	}
}
