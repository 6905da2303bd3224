package pgstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"dealcredit/eventstore"
	"dealcredit/eventstore/pgstore"
)

// tamperLog returns a store holding 10 events and a superuser pool on the
// same database.
func tamperLog(t *testing.T) (*pgstore.Store, *pgxpool.Pool) {
	t.Helper()
	pool := mustPool(t, mustDatabase(t))
	s := mustStore(t, pool, pgstore.Options{})
	ctx := context.Background()
	for i := range 10 {
		if _, err := s.Append(ctx, "tamper-"+string(rune('a'+i%3)), eventstore.Any, numbered(i)); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	return s, pool
}

// asSuperuser runs sql with the append-only trigger disabled, as an
// attacker with superuser rights could.
func asSuperuser(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	for _, q := range []string{`ALTER TABLE events DISABLE TRIGGER events_no_update_delete`, sql, `ALTER TABLE events ENABLE TRIGGER events_no_update_delete`} {
		var a []any
		if q == sql {
			a = args
		}
		if _, err := tx.Exec(ctx, q, a...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		tamper     string
		args       []any
		wantPos    int64
		wantReason string
	}{
		{"changed data", `UPDATE events SET data = '{"n":999}' WHERE position = 5`, nil, 5, "hash mismatch"},
		{"changed metadata", `UPDATE events SET metadata = '{"actor":"mallory"}' WHERE position = 7`, nil, 7, "hash mismatch"},
		{"changed type", `UPDATE events SET type = 'deal.forged' WHERE position = 1`, nil, 1, "hash mismatch"},
		{"changed recorded time", `UPDATE events SET recorded_at = recorded_at + interval '1 second' WHERE position = 3`, nil, 3, "hash mismatch"},
		{"hash recomputed for the changed row only", `UPDATE events SET data = '{"n":999}', hash = sha256('x') WHERE position = 4`, nil, 4, "hash mismatch"},
		{"prev_hash rewritten", `UPDATE events SET prev_hash = sha256('x') WHERE position = 6`, nil, 6, "prev_hash mismatch"},
		{"middle event deleted", `DELETE FROM events WHERE position = 4`, nil, 4, "position gap"},
		{"first event deleted", `DELETE FROM events WHERE position = 1`, nil, 1, "position gap"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s, pool := tamperLog(t)
			if rep, err := s.Verify(ctx, nil); err != nil || !rep.OK() || rep.Head != 10 {
				t.Fatalf("Verify before tampering = %+v, %v", rep, err)
			}
			asSuperuser(t, pool, tc.tamper, tc.args...)
			var verified []int64
			rep, err := s.Verify(ctx, func(pos int64) { verified = append(verified, pos) })
			var ce *eventstore.ChainError
			if !errors.As(err, &ce) || !pgstore.IsChainError(err) {
				t.Fatalf("Verify after tampering = %+v, %v; want a *ChainError", rep, err)
			}
			if ce.Position != tc.wantPos || rep.BadPosition != tc.wantPos || !strings.Contains(ce.Reason, tc.wantReason) {
				t.Fatalf("Verify names position %d (%s), want %d (%s)", ce.Position, ce.Reason, tc.wantPos, tc.wantReason)
			}
			if int64(len(verified)) != tc.wantPos-1 || rep.Head != tc.wantPos-1 {
				t.Fatalf("progress reported %d positions, head %d; want %d good", len(verified), rep.Head, tc.wantPos-1)
			}
		})
	}
}

func TestVerifyAnchorDetectsDeletedTail(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, pool := tamperLog(t)
	anchor, err := s.Verify(ctx, nil)
	if err != nil || anchor.Head != 10 {
		t.Fatalf("Verify = %+v, %v", anchor, err)
	}
	if rep, err := s.VerifyAnchored(ctx, anchor.Head, anchor.HeadHash, nil); err != nil || !rep.OK() {
		t.Fatalf("VerifyAnchored on an intact log = %+v, %v", rep, err)
	}
	// A rewritten tail whose hash is recomputed keeps the chain valid ...
	last, err := s.ReadAll(ctx, 9, 1)
	if err != nil || len(last) != 1 {
		t.Fatalf("ReadAll(9) = %v, %v", last, err)
	}
	forged := last[0]
	forged.Data = []byte(`{"n":1000000}`)
	forged.Hash = eventstore.HashRecord(forged.PrevHash, forged)
	asSuperuser(t, pool, `UPDATE events SET data = $1, hash = $2 WHERE position = 10`, string(forged.Data), forged.Hash)
	if rep, err := s.Verify(ctx, nil); err != nil || rep.Head != 10 {
		t.Fatalf("Verify after a consistent rewrite = %+v, %v; want a valid chain (only an anchor can tell)", rep, err)
	}
	// ... but not against the anchor.
	if _, err := s.VerifyAnchored(ctx, anchor.Head, anchor.HeadHash, nil); !pgstore.IsChainError(err) {
		t.Fatalf("VerifyAnchored after a consistent rewrite = %v, want a chain error", err)
	}
	asSuperuser(t, pool, `DELETE FROM events WHERE position = 10`)
	// The chain alone cannot see a deleted tail ...
	if rep, err := s.Verify(ctx, nil); err != nil || rep.Head != 9 {
		t.Fatalf("Verify without an anchor = %+v, %v; want a good chain ending at 9", rep, err)
	}
	// ... the anchor can.
	rep, err := s.VerifyAnchored(ctx, anchor.Head, anchor.HeadHash, nil)
	var ce *eventstore.ChainError
	if !errors.As(err, &ce) || ce.Position != 10 || rep.OK() {
		t.Fatalf("VerifyAnchored after deleting the tail = %+v, %v; want a break at 10", rep, err)
	}
	// Deleting and re-appending a different event at 10 is caught too.
	if _, err := s.Append(ctx, "tamper-z", eventstore.Any, numbered(42)); err != nil {
		t.Fatal(err)
	}
	rep, err = s.VerifyAnchored(ctx, anchor.Head, anchor.HeadHash, nil)
	if !errors.As(err, &ce) || ce.Position != 10 || !strings.Contains(ce.Reason, "anchor") {
		t.Fatalf("VerifyAnchored after replacing the tail = %+v, %v; want a break at 10 against the anchor", rep, err)
	}
}

// TestAppendOnlyEnforcedByDatabase checks that the database itself, not
// just the code, refuses changes to the log.
func TestAppendOnlyEnforcedByDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, pool := tamperLog(t)
	tests := []struct {
		name string
		role string
		sql  string
		want string // message fragment
	}{
		{"update as superuser", "", `UPDATE events SET data = '{}' WHERE position = 1`, "append-only: UPDATE"},
		{"delete as superuser", "", `DELETE FROM events WHERE position = 10`, "append-only: DELETE"},
		{"truncate as superuser", "", `TRUNCATE events`, "append-only: TRUNCATE"},
		{"update as app role", "dealcredit_app", `UPDATE events SET data = '{}' WHERE position = 1`, "permission denied"},
		{"delete as app role", "dealcredit_app", `DELETE FROM events WHERE position = 10`, "permission denied"},
		{"truncate as app role", "dealcredit_app", `TRUNCATE events`, "permission denied"},
	}
	for _, tc := range tests {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if tc.role != "" {
			if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+tc.role); err != nil {
				t.Fatalf("%s: set role: %v", tc.name, err)
			}
		}
		_, err = tx.Exec(ctx, tc.sql)
		tx.Rollback(ctx) //nolint:errcheck
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" || !strings.Contains(pgErr.Message, tc.want) {
			t.Errorf("%s: err = %v, want SQLSTATE 42501 %q", tc.name, err, tc.want)
		}
	}
	// The app role can read and append.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	var n int
	if _, err := tx.Exec(ctx, "SET LOCAL ROLE dealcredit_app"); err != nil {
		t.Fatal(err)
	}
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil || n != 10 {
		t.Fatalf("app role select = %d, %v", n, err)
	}
	if rep, err := s.Verify(ctx, nil); err != nil || rep.Head != 10 {
		t.Fatalf("Verify after refused changes = %+v, %v", rep, err)
	}
}

func TestCancelledContextAppendsNothing(t *testing.T) {
	t.Parallel()
	s := mustStore(t, mustPool(t, mustDatabase(t)), pgstore.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Append(ctx, "c-1", eventstore.Any, numbered(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with a cancelled ctx = %v, want context.Canceled", err)
	}
	if h, err := s.Head(context.Background()); err != nil || h != 0 {
		t.Fatalf("Head = %d, %v; want 0", h, err)
	}
	s.Close()
	if _, err := s.Append(context.Background(), "c-1", eventstore.Any, numbered(1)); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
}
