package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"dealcredit/eventstore"
)

// batchTimeout bounds one append transaction, including waiting for the
// advisory lock held by other processes.
const batchTimeout = time.Minute

const (
	sqlLock         = `SELECT pg_advisory_xact_lock($1)`
	sqlHead         = `SELECT position, hash FROM events ORDER BY position DESC LIMIT 1`
	sqlByIDs        = `SELECT ` + recordColumns + ` FROM events WHERE event_id = ANY($1::uuid[])`
	sqlVersions     = `SELECT s.id, COALESCE((SELECT e.stream_version FROM events e WHERE e.stream_id = s.id ORDER BY e.stream_version DESC LIMIT 1), 0) FROM unnest($1::text[]) AS s(id)`
	sqlInsert       = `INSERT INTO events (` + recordColumns + `) SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::uuid[], $5::text[], $6::int[], $7::json[], $8::json[], $9::timestamptz[], $10::timestamptz[], $11::bytea[], $12::bytea[])`
	sqlNotify       = `SELECT pg_notify($1, $2)`
	sqlCountIDs     = `SELECT count(*) FROM events WHERE event_id = ANY($1::uuid[])`
	sqlRollback     = `ROLLBACK`
	sqlBeginStmt    = `BEGIN ISOLATION LEVEL READ COMMITTED`
	sqlGenericPlans = `SET LOCAL plan_cache_mode = force_generic_plan`
)

// writeLoop is the group-commit writer: it takes every job waiting in the
// queue (up to about MaxBatch events) and writes them in one transaction.
func (s *Store) writeLoop() {
	defer close(s.done)
	for j := range s.jobs {
		batch := []*job{j}
		n := j.events
		// Let appenders that were just answered queue their next request,
		// so batches stay large under load instead of alternating small/big.
		runtime.Gosched()
	drain:
		for n < s.max {
			select {
			case next, ok := <-s.jobs:
				if !ok {
					break drain
				}
				batch = append(batch, next)
				n += next.events
			default:
				break drain
			}
		}
		s.runBatch(batch)
	}
}

func (s *Store) runBatch(batch []*job) {
	live := batch[:0]
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.res <- jobResult{err: fmt.Errorf("not appended: %w", err)}
			continue
		}
		live = append(live, j)
	}
	if len(live) == 0 {
		return
	}
	results, err := s.commitBatch(live)
	var nae *notAppendedError
	if err != nil && len(live) > 1 && errors.As(err, &nae) {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			// A data error nobody foresaw: isolate it so the other jobs of
			// the batch still commit.
			s.log.Warn("pgstore: batch failed, retrying its jobs one by one", "jobs", len(live), "err", err)
			for _, j := range live {
				r, err := s.commitBatch([]*job{j})
				if err != nil {
					j.res <- jobResult{err: err}
					continue
				}
				j.res <- jobResult{units: r[0]}
			}
			return
		}
	}
	for i, j := range live {
		if err != nil {
			j.res <- jobResult{err: err}
			continue
		}
		j.res <- jobResult{units: results[i]}
	}
}

// batchState is the log as the batch's transaction sees it, advanced by
// every unit that passed its checks.
type batchState struct {
	head     int64
	lastHash []byte
	now      time.Time
	versions map[string]int64
	byID     map[uuid.UUID]eventstore.Record
	newRecs  []eventstore.Record
}

// commitBatch writes the jobs in one transaction and returns, per job, the
// per-unit outcomes. An error means no unit of any job was appended
// (*notAppendedError) or the outcome is unknown.
func (s *Store) commitBatch(jobs []*job) ([][]eventstore.UnitResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()

	var ids []pgtype.UUID
	streams := make(map[string]struct{})
	var streamList []string
	for _, j := range jobs {
		for _, u := range j.units {
			for _, r := range u.reqs {
				if _, ok := streams[r.Stream]; !ok {
					streams[r.Stream] = struct{}{}
					streamList = append(streamList, r.Stream)
				}
				for _, e := range r.Events {
					ids = append(ids, pgtype.UUID{Bytes: e.ID, Valid: true})
				}
			}
		}
	}

	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, &notAppendedError{fmt.Errorf("acquire connection: %w", err)}
	}
	defer conn.Release()

	st := &batchState{
		lastHash: eventstore.ZeroHash,
		now:      eventstore.TruncateTime(s.now()),
		versions: make(map[string]int64, len(streamList)),
		byID:     make(map[uuid.UUID]eventstore.Record, len(ids)),
	}
	if err := s.readState(ctx, conn, st, ids, streamList); err != nil {
		rollback(conn)
		return nil, &notAppendedError{err}
	}

	out := make([][]eventstore.UnitResult, len(jobs))
	for i, j := range jobs {
		out[i] = make([]eventstore.UnitResult, len(j.units))
		for k, u := range j.units {
			res, err := st.apply(u)
			out[i][k] = eventstore.UnitResult{Results: res, Err: err}
		}
	}

	committed, err := s.writeAndCommit(ctx, conn, st)
	if err != nil {
		return nil, err
	}
	if !committed {
		return out, nil
	}
	s.m.batchSize.Observe(float64(len(st.newRecs)))
	for _, r := range st.newRecs {
		s.m.appended.WithLabelValues(r.Type).Inc()
	}
	s.follow.advance(st.newRecs[len(st.newRecs)-1].Position)
	return out, nil
}

// readState begins the transaction, takes the append lock and reads the head,
// the stored events with the batch's ids and the batch's stream versions, in
// one round trip.
func (s *Store) readState(ctx context.Context, conn *pgxpool.Conn, st *batchState, ids []pgtype.UUID, streams []string) error {
	b := &pgx.Batch{}
	b.Queue(sqlBeginStmt)
	// The statements below are tiny; custom-planning them on every batch
	// (what plan_cache_mode=auto does for array parameters) costs more than
	// running them.
	b.Queue(sqlGenericPlans)
	b.Queue(sqlLock, appendLockID)
	b.Queue(sqlHead)
	b.Queue(sqlByIDs, ids)
	b.Queue(sqlVersions, streams)
	br := conn.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("set plan cache mode: %w", err)
	}
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("take append lock: %w", err)
	}
	if err := br.QueryRow().Scan(&st.head, &st.lastHash); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("read head: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		return fmt.Errorf("read stored ids: %w", err)
	}
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			rows.Close()
			return fmt.Errorf("read stored ids: %w", err)
		}
		st.byID[r.ID] = r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read stored ids: %w", err)
	}
	rows, err = br.Query()
	if err != nil {
		return fmt.Errorf("read stream versions: %w", err)
	}
	for rows.Next() {
		var id string
		var v int64
		if err := rows.Scan(&id, &v); err != nil {
			rows.Close()
			return fmt.Errorf("read stream versions: %w", err)
		}
		st.versions[id] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read stream versions: %w", err)
	}
	return br.Close()
}

// writeAndCommit inserts the batch's new records, notifies followers and
// commits, in one round trip. committed is false when there was nothing to
// write. When the commit's outcome is unknown it is resolved by reading the
// event ids back.
func (s *Store) writeAndCommit(ctx context.Context, conn *pgxpool.Conn, st *batchState) (committed bool, err error) {
	if len(st.newRecs) == 0 {
		rollback(conn)
		return false, nil
	}
	n := len(st.newRecs)
	var (
		pos      = make([]int64, n)
		streams  = make([]string, n)
		versions = make([]int64, n)
		ids      = make([]pgtype.UUID, n)
		types    = make([]string, n)
		schemas  = make([]int32, n)
		data     = make([][]byte, n)
		meta     = make([][]byte, n)
		occurred = make([]time.Time, n)
		recorded = make([]time.Time, n)
		prev     = make([][]byte, n)
		hashes   = make([][]byte, n)
	)
	for i, r := range st.newRecs {
		pos[i], streams[i], versions[i] = r.Position, r.StreamID, r.StreamVersion
		ids[i] = pgtype.UUID{Bytes: r.ID, Valid: true}
		types[i], schemas[i] = r.Type, int32(r.SchemaVersion)
		data[i], meta[i] = r.Data, r.Metadata
		occurred[i], recorded[i] = r.OccurredAt, r.RecordedAt
		prev[i], hashes[i] = r.PrevHash, r.Hash
	}
	head := st.newRecs[n-1].Position
	b := &pgx.Batch{}
	insertArgs := []any{pos, streams, versions, ids, types, schemas, data, meta, occurred, recorded, prev, hashes}
	if s.beforeCommit != nil {
		// Test hook: hold the transaction open with its rows inserted.
		if _, err := conn.Exec(ctx, sqlInsert, insertArgs...); err != nil {
			rollback(conn)
			return false, &notAppendedError{fmt.Errorf("insert: %w", err)}
		}
		s.beforeCommit()
	} else {
		b.Queue(sqlInsert, insertArgs...)
	}
	b.Queue(sqlNotify, NotifyChannel, strconv.FormatInt(head, 10))
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	stage := "insert"
	if s.beforeCommit == nil {
		_, err = br.Exec()
	}
	if err == nil {
		stage = "notify"
		_, err = br.Exec()
	}
	if err == nil {
		stage = "commit"
		_, err = br.Exec()
	}
	closeErr := br.Close()
	if err == nil {
		err = closeErr
	}
	if err == nil {
		return true, nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// The server answered with an error: the transaction did not commit.
		rollback(conn)
		return false, &notAppendedError{fmt.Errorf("%s: %w", stage, err)}
	}
	// The connection failed somewhere between sending COMMIT and reading its
	// answer: find out from the database, never guess.
	conn.Conn().Close(context.Background()) //nolint:errcheck // the connection is broken anyway
	ok, rerr := s.resolveCommit(ids)
	if rerr != nil {
		return false, fmt.Errorf("%w: %s: %v; resolving: %v", errOutcomeUnknown, stage, err, rerr)
	}
	s.log.Warn("pgstore: commit outcome resolved by reading back", "committed", ok, "events", n, "err", err)
	if !ok {
		return false, &notAppendedError{fmt.Errorf("%s: %w", stage, err)}
	}
	return true, nil
}

// resolveCommit reads back the ids of a batch whose commit answer was lost.
func (s *Store) resolveCommit(ids []pgtype.UUID) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	delay := 50 * time.Millisecond
	for {
		var n int
		err := s.pool.QueryRow(ctx, sqlCountIDs, ids).Scan(&n)
		if err == nil {
			switch n {
			case len(ids):
				return true, nil
			case 0:
				return false, nil
			default:
				return false, fmt.Errorf("%d of %d events of the batch are stored", n, len(ids))
			}
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, fmt.Errorf("read back event ids: %w", err)
		case <-t.C:
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func rollback(conn *pgxpool.Conn) {
	if conn.Conn().PgConn().TxStatus() == 'I' {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, sqlRollback); err != nil {
		// Release discards a connection that is still inside a transaction.
		_ = conn.Conn().Close(ctx)
	}
}

// apply checks one unit against the state and, when every request passes,
// assigns positions, versions and hashes. A failing unit leaves the state
// as it was.
func (st *batchState) apply(u unit) ([]eventstore.AppendResult, error) {
	if u.err != nil {
		return nil, u.err
	}
	savedN, savedHash := len(st.newRecs), st.lastHash
	type oldVersion struct {
		v       int64
		present bool
	}
	touched := map[string]oldVersion{}
	var added []uuid.UUID
	undo := func() {
		st.newRecs, st.lastHash = st.newRecs[:savedN], savedHash
		for s, o := range touched {
			if o.present {
				st.versions[s] = o.v
			} else {
				delete(st.versions, s)
			}
		}
		for _, id := range added {
			delete(st.byID, id)
		}
	}
	results := make([]eventstore.AppendResult, len(u.reqs))
	for i, r := range u.reqs {
		found := -1
		nFound := 0
		for k, e := range r.Events {
			if _, ok := st.byID[e.ID]; ok {
				nFound++
				if found < 0 {
					found = k
				}
			}
		}
		if nFound == len(r.Events) {
			recs := make([]eventstore.Record, len(r.Events))
			for k, e := range r.Events {
				rec := st.byID[e.ID]
				if !sameContent(rec, r.Stream, e) {
					undo()
					return nil, &eventstore.IDConflictError{ID: e.ID, Position: rec.Position}
				}
				recs[k] = rec
			}
			results[i] = eventstore.AppendResult{Records: recs, AlreadyAppended: true}
			continue
		}
		if nFound > 0 {
			// Part of the request is stored: a retry must repeat the
			// original request exactly, so this is a different request.
			id := r.Events[found].ID
			undo()
			return nil, &eventstore.IDConflictError{ID: id, Position: st.byID[id].Position}
		}
		cur, present := st.versions[r.Stream]
		if !r.Expected.Check(cur) {
			undo()
			return nil, &eventstore.ConflictError{Stream: r.Stream, Expected: r.Expected, Actual: cur}
		}
		if _, seen := touched[r.Stream]; !seen {
			touched[r.Stream] = oldVersion{cur, present}
		}
		recs := make([]eventstore.Record, len(r.Events))
		for k, e := range r.Events {
			cur++
			occurred := st.now
			if !e.OccurredAt.IsZero() {
				occurred = eventstore.TruncateTime(e.OccurredAt)
			}
			rec := eventstore.Record{
				Position:      st.head + int64(len(st.newRecs)) + 1,
				StreamID:      r.Stream,
				StreamVersion: cur,
				ID:            e.ID,
				Type:          e.Type,
				SchemaVersion: e.SchemaVersion,
				Data:          e.Data,
				Metadata:      r.metadata[k],
				OccurredAt:    occurred,
				RecordedAt:    st.now,
				PrevHash:      st.lastHash,
			}
			rec.Hash = eventstore.HashRecord(st.lastHash, rec)
			st.lastHash = rec.Hash
			st.newRecs = append(st.newRecs, rec)
			st.byID[e.ID] = rec
			added = append(added, e.ID)
			recs[k] = rec
		}
		st.versions[r.Stream] = cur
		results[i] = eventstore.AppendResult{Records: recs}
	}
	return results, nil
}

// sameContent reports whether a stored record is the same event as e
// appended to stream: same stream, type, schema version and data bytes.
func sameContent(rec eventstore.Record, stream string, e eventstore.Event) bool {
	return rec.StreamID == stream && rec.Type == e.Type && rec.SchemaVersion == e.SchemaVersion && bytes.Equal(rec.Data, e.Data)
}
