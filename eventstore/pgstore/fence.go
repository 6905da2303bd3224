package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"dealcredit/eventstore"
)

// DefaultFenceInterval is how often the writer re-identifies the database
// server when idle and, while fenced, asks the mirror again.
const DefaultFenceInterval = 2 * time.Second

// fenceCheckTimeout bounds one check of the mirror's head.
const fenceCheckTimeout = 5 * time.Second

// sqlServerIdentity names the server a connection talks to: a promoted
// standby (or a restarted server) has another postmaster start time.
const sqlServerIdentity = `SELECT coalesce(host(inet_server_addr()), 'local') || ':' || coalesce(inet_server_port(), 0)::text || '@' || pg_postmaster_start_time()::text`

const sqlHashAt = `SELECT hash FROM events WHERE position = $1`

// notChecked is the fence state before the first check against the mirror.
var notChecked = &eventstore.FencedError{Reason: "not checked against the mirror yet"}

// maxSeenConns bounds the writer's map of identified connections.
const maxSeenConns = 256

// connKey identifies one server session of the pool.
type connKey struct {
	conn      *pgx.Conn
	pid       uint32
	secretKey string
}

// fencer is the writer's guard against a forked record (see
// eventstore.Fence). Only the holder of Store.writing uses its fields,
// except err and the changed channel.
type fencer struct {
	fence eventstore.Fence
	every time.Duration

	seen      map[connKey]string // connection -> server identity
	server    string             // the server of the last check ("" before)
	passed    bool               // the last check against server passed
	checkedAt time.Time

	err     atomic.Pointer[eventstore.FencedError] // nil while appends are allowed
	changed chan struct{}                          // a send per change of server
}

// Fenced returns nil while the writer may append, else the
// *eventstore.FencedError saying why it refuses (for /readyz). A Store
// without Options.Fence is never fenced.
func (s *Store) Fenced() error {
	if e := s.fc.err.Load(); e != nil {
		return e
	}
	return nil
}

// ServerChanged receives a value each time the writer finds the database
// behind the pool is another server than before (a failover or a restart),
// e.g. to verify the log against the mirror at once. Only with Options.Fence.
func (s *Store) ServerChanged() <-chan struct{} { return s.fc.changed }

// guard runs before every batch on conn and on the writer's idle ticks: it
// identifies conn's server and, when that is a server the writer has not
// checked (or the last check failed a while ago), compares the log's head
// with the mirror's. It returns the *eventstore.FencedError while the writer
// must not append.
func (s *Store) guard(ctx context.Context, conn *pgxpool.Conn) error {
	f := &s.fc
	if f.fence == nil {
		return nil
	}
	pc := conn.Conn()
	key := connKey{conn: pc, pid: pc.PgConn().PID(), secretKey: string(pc.PgConn().SecretKey())}
	server, ok := f.seen[key]
	if !ok {
		if err := pc.QueryRow(ctx, sqlServerIdentity).Scan(&server); err != nil {
			return fmt.Errorf("identify database server: %w", err)
		}
		if len(f.seen) >= maxSeenConns {
			clear(f.seen)
		}
		f.seen[key] = server
	}
	switch {
	case server != f.server:
		if f.server != "" {
			s.log.Warn("pgstore: database server changed, checking the log against the mirror", "from", f.server, "to", server)
			select {
			case f.changed <- struct{}{}:
			default:
			}
		}
		s.cache.invalidate()
		s.checkFence(ctx, pc, server)
	case !f.passed && time.Since(f.checkedAt) >= f.every:
		s.checkFence(ctx, pc, server)
	}
	if e := f.err.Load(); e != nil {
		return e
	}
	return nil
}

// checkFence compares the log's head on conn with the mirror's head and
// sets the fence state.
func (s *Store) checkFence(ctx context.Context, conn *pgx.Conn, server string) {
	f := &s.fc
	f.server, f.checkedAt = server, time.Now()
	fe := s.compareWithMirror(ctx, conn)
	f.passed = fe == nil
	old := f.err.Swap(fe)
	switch {
	case fe != nil:
		s.m.fenced.Set(1)
		if old == nil || old == notChecked || old.Reason != fe.Reason {
			s.log.Error("pgstore: writer fenced, appends refused", "reason", fe.Reason, "log_head", fe.LogHead, "mirror_head", fe.MirrorHead)
		}
	case old != nil:
		s.m.fenced.Set(0)
		if old != notChecked {
			s.log.Info("pgstore: writer unfenced, the log agrees with the mirror")
		}
	}
}

// compareWithMirror returns nil when no event the mirror holds can be
// overwritten by an append: the mirror's last event is in the log, same id
// and hash at the same position.
//
// The mirror is asked first: everything it holds was committed before, so
// the log's head read afterwards includes it even while other processes
// append and relay (reading the log first could see a mirror that is ahead
// only because of a commit made in between).
func (s *Store) compareWithMirror(ctx context.Context, conn *pgx.Conn) *eventstore.FencedError {
	mctx, cancel := context.WithTimeout(ctx, fenceCheckTimeout)
	defer cancel()
	mh, err := s.fc.fence.MirrorHead(mctx)
	if err != nil {
		return &eventstore.FencedError{Reason: fmt.Sprintf("the mirror cannot be checked: %v", err)}
	}
	var head int64
	var hash []byte
	if err := conn.QueryRow(ctx, sqlHead).Scan(&head, &hash); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return &eventstore.FencedError{MirrorHead: mh.Position, Reason: fmt.Sprintf("cannot read the log's head: %v", err)}
	}
	fenced := func(format string, args ...any) *eventstore.FencedError {
		return &eventstore.FencedError{LogHead: head, MirrorHead: mh.Position, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case mh.Position == 0:
		return nil
	case head == 0:
		// Either the database lost the whole log, or it is a new database
		// beside the mirror of another log: recover would copy that log.
		return fenced("the log is empty but the mirror holds positions 1 to %d: if this database lost its log in a failover, "+
			"run dealcredit recover --from-mirror; if it is a new database, give it its own mirror (a new DEALCREDIT_DATA_DIR "+
			"for the embedded JetStream, or its own NATS_URL): recover would copy the other log into it", mh.Position)
	case mh.Position > head:
		return fenced("the mirror holds positions %d to %d that the log lacks (lost in a database failover?); run dealcredit recover --from-mirror", head+1, mh.Position)
	case mh.Position < head:
		if err := conn.QueryRow(ctx, sqlHashAt, mh.Position).Scan(&hash); err != nil {
			return fenced("cannot read the log at position %d: %v", mh.Position, err)
		}
	}
	if !bytes.Equal(hash, mh.Hash) {
		return fenced("the log's event at position %d differs from the mirror's (forked record)", mh.Position)
	}
	return nil
}

// idleGuard runs guard on a pooled connection when the writer has nothing
// to write, so a failover is noticed (and a fence lifted) without appends.
func (s *Store) idleGuard() {
	ctx, cancel := context.WithTimeout(s.ctx, fenceCheckTimeout+5*time.Second)
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return // the database is down: the next batch or tick tries again
	}
	defer conn.Release()
	if err := s.guard(ctx, conn); err != nil && !errors.Is(err, eventstore.ErrFenced) {
		s.log.Debug("pgstore: fence check failed", "err", err)
	}
}
