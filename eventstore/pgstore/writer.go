package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
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
	sqlLock     = `SELECT pg_advisory_xact_lock($1)`
	sqlHead     = `SELECT position, hash FROM events ORDER BY position DESC LIMIT 1`
	sqlByIDs    = `SELECT ` + recordColumns + ` FROM events WHERE event_id = ANY($1::uuid[])`
	sqlVersions = `SELECT s.id, COALESCE((SELECT e.stream_version FROM events e WHERE e.stream_id = s.id ORDER BY e.stream_version DESC LIMIT 1), 0) FROM unnest($1::text[]) AS s(id)`
	sqlInsert   = `INSERT INTO events (` + recordColumns + `) SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::uuid[], $5::text[], $6::int[], $7::json[], $8::json[], $9::timestamptz[], $10::timestamptz[], $11::bytea[], $12::bytea[])`
	// headGuard is true when the log's last event is at position $1 with
	// hash $2 (0 and any hash: the log is empty).
	headGuard = `CASE WHEN $1::bigint = 0 THEN NOT EXISTS (SELECT 1 FROM events) ELSE EXISTS (SELECT 1 FROM events WHERE position = $1::bigint AND hash = $2::bytea) END`
	// sqlNotifyIfHead notifies only when position $3 is stored (the fast
	// path's INSERT may have written nothing).
	sqlNotifyIfHead = `SELECT pg_notify($1, $2) FROM events WHERE position = $3`
	sqlCountStored  = `SELECT count(*) FROM unnest($1::uuid[], $2::bigint[]) AS b(id, pos) JOIN events e ON e.position = b.pos AND e.event_id = b.id`
	sqlRollback     = `ROLLBACK`
	sqlBeginStmt    = `BEGIN ISOLATION LEVEL READ COMMITTED`
	sqlGenericPlans = `SET LOCAL plan_cache_mode = force_generic_plan`
)

// sqlInsertNotify is sqlInsert that also notifies followers of the new
// head at position $13, in the same statement: it returns one row when the
// head is inserted (NOTIFY is delivered at commit).
var sqlInsertNotify = `WITH ins AS (` + sqlInsert + ` RETURNING position) SELECT pg_notify('` + NotifyChannel + `', position::text) FROM ins WHERE position = $13`

// sqlInsertIfHeadNotify is sqlInsertNotify that writes nothing (and
// returns no row) unless the log's last event is at position $14 with hash
// $15 (0 and any hash: empty).
var sqlInsertIfHeadNotify = `WITH ins AS (` + sqlInsert + ` WHERE ` + strings.NewReplacer("$1:", "$14:", "$2:", "$15:").Replace(headGuard) +
	` RETURNING position) SELECT pg_notify('` + NotifyChannel + `', position::text) FROM ins WHERE position = $13`

// writeLoop is the group-commit writer: it takes every job waiting in the
// queue (up to about MaxBatch events) and writes them in one transaction.
//
// With a fence it also checks the log against the mirror at start and,
// while idle, every FenceInterval (see guard).
func (s *Store) writeLoop() {
	defer close(s.done)
	var tick <-chan time.Time
	if s.fc.fence != nil {
		t := time.NewTicker(s.fc.every)
		defer t.Stop()
		tick = t.C
		s.lockedIdleGuard()
	}
	for {
		var j *job
		select {
		case next, ok := <-s.jobs:
			if !ok {
				return
			}
			j = next
		case <-tick:
			s.lockedIdleGuard()
			continue
		}
		s.writing.Lock()
		s.drainAndRun(j)
		s.writing.Unlock()
	}
}

// lockedIdleGuard runs idleGuard holding s.writing.
func (s *Store) lockedIdleGuard() {
	s.writing.Lock()
	defer s.writing.Unlock()
	s.idleGuard()
}

// drainAndRun writes j and every job queued behind it (up to about
// MaxBatch events) in one batch. The caller holds s.writing.
func (s *Store) drainAndRun(j *job) {
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
	var pgErr *pgconn.PgError
	if err != nil && errors.As(err, &nae) && errors.As(err, &pgErr) && unitCount(live) > 1 {
		// A data error nobody foresaw: isolate it unit by unit, so that
		// every other unit of the batch (of other jobs and of the same
		// AppendEach call) still commits and only the bad one fails.
		s.log.Warn("pgstore: batch failed, retrying its units one by one", "units", unitCount(live), "err", err)
		for _, j := range live {
			out := make([]eventstore.UnitResult, len(j.units))
			for k, u := range j.units {
				r, err := s.commitBatch([]*job{{ctx: j.ctx, units: []unit{u}, events: u.events()}})
				if err != nil {
					out[k] = eventstore.UnitResult{Err: err}
					continue
				}
				out[k] = r[0][0]
			}
			j.res <- jobResult{units: out}
		}
		return
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
//
// It first tries the fast path (one round trip, see fastBatch) and falls
// back to reading the log's state under the lock (two round trips) when the
// fast path cannot decide.
func (s *Store) commitBatch(jobs []*job) ([][]eventstore.UnitResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	start := time.Now()
	defer func() { s.m.txTime.Observe(time.Since(start).Seconds()) }()

	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, &notAppendedError{fmt.Errorf("acquire connection: %w", err)}
	}
	defer conn.Release()
	if err := s.guard(ctx, conn); err != nil {
		return nil, &notAppendedError{err}
	}

	if out, done, err := s.fastBatch(ctx, conn, jobs); done {
		s.m.fastPath.WithLabelValues("hit").Inc()
		return out, err
	}
	s.m.fastPath.WithLabelValues("slow").Inc()
	return s.slowBatch(ctx, conn, jobs)
}

// slowBatch reads the head, the stored events with the batch's ids and the
// batch's stream versions under the lock, checks every unit against them,
// then writes and commits.
func (s *Store) slowBatch(ctx context.Context, conn *pgxpool.Conn, jobs []*job) ([][]eventstore.UnitResult, error) {
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

	st := &batchState{
		lastHash: eventstore.ZeroHash,
		now:      eventstore.TruncateTime(s.now()),
		versions: make(map[string]int64, len(streamList)),
		byID:     make(map[uuid.UUID]eventstore.Record, len(ids)),
	}
	if err := s.readState(ctx, conn, st, ids, streamList); err != nil {
		rollback(conn)
		s.cache.invalidate()
		return nil, &notAppendedError{err}
	}
	readHead, readHash := st.head, st.lastHash
	if c := &s.cache; c.valid && (c.head != readHead || !bytes.Equal(c.hash, readHash)) {
		c.invalidate() // another process appended: the cached versions are old
	}

	out := s.applyJobs(st, jobs)

	committed, err := s.writeAndCommit(ctx, conn, st, false)
	if err != nil {
		s.cache.invalidate()
		return nil, err
	}
	if !committed {
		// Nothing written: the state read under the lock is the log's.
		s.cache.remember(readHead, readHash, st.versions)
		return out, nil
	}
	s.committed(st)
	return out, nil
}

// fastBatch tries to write the batch in one round trip without reading the
// log first: [lock, INSERT guarded by the cached head and NOTIFY in one
// statement] in one implicit transaction (see writeAndCommit). It assumes
// what the writer knows from its previous transactions: the head position
// and hash, and the versions of the streams it read or wrote since. Other
// streams are assumed empty, and every event id is assumed new. The database
// checks each assumption inside the transaction: the INSERT writes nothing
// unless the cached head is still the last event (another process appended
// otherwise), and the unique
// constraints on (stream_id, stream_version), event_id and position refuse
// a stream that exists, an id that is stored and a position that is taken.
//
// done is false when the fast path could not decide (not applicable, or an
// assumption was wrong): then nothing was appended and the caller must use
// the slow path, which gives the exact idempotency and conflict outcomes.
func (s *Store) fastBatch(ctx context.Context, conn *pgxpool.Conn, jobs []*job) (out [][]eventstore.UnitResult, done bool, err error) {
	c := &s.cache
	if !c.valid {
		return nil, false, nil
	}
	if c.skip > 0 {
		c.skip--
		return nil, false, nil
	}
	st := &batchState{
		head:     c.head,
		lastHash: c.hash,
		now:      eventstore.TruncateTime(s.now()),
		versions: make(map[string]int64),
		byID:     make(map[uuid.UUID]eventstore.Record),
	}
	for _, j := range jobs {
		for _, u := range j.units {
			if u.err != nil {
				continue
			}
			for _, r := range u.reqs {
				if _, ok := st.versions[r.Stream]; ok {
					continue
				}
				// A stream the writer does not know is assumed empty: if it
				// is not, its version 1 is stored and UNIQUE (stream_id,
				// stream_version) refuses the INSERT. An expectation that
				// an empty stream fails goes to the slow path below.
				st.versions[r.Stream] = c.versions[r.Stream]
			}
		}
	}
	out = make([][]eventstore.UnitResult, len(jobs))
	for i, j := range jobs {
		out[i] = make([]eventstore.UnitResult, len(j.units))
		for k, u := range j.units {
			res, err := st.apply(u)
			if err != nil && u.err == nil {
				// A conflict decided from the cache could be an
				// idempotent retry: only the slow path can tell.
				return nil, false, nil
			}
			out[i][k] = eventstore.UnitResult{Results: res, Err: err}
		}
	}
	if len(st.newRecs) == 0 {
		return out, true, nil // validation errors only: nothing to write
	}
	committed, err := s.writeAndCommit(ctx, conn, st, true)
	var nae *notAppendedError
	if errors.As(err, &nae) {
		// A wrong assumption (or another error the slow path will
		// report): nothing was appended.
		c.invalidate()
		c.misses++
		c.skip = s.fastSkip << min(c.misses-1, 3)
		s.m.fastPath.WithLabelValues("miss").Inc()
		s.log.Debug("pgstore: fast append path missed", "err", err)
		return nil, false, nil
	}
	if err != nil {
		c.invalidate()
		return nil, true, err
	}
	if committed {
		s.committed(st)
	}
	c.misses = 0
	return out, true, nil
}

// applyJobs checks every unit of jobs against st, in order.
func (s *Store) applyJobs(st *batchState, jobs []*job) [][]eventstore.UnitResult {
	out := make([][]eventstore.UnitResult, len(jobs))
	for i, j := range jobs {
		out[i] = make([]eventstore.UnitResult, len(j.units))
		for k, u := range j.units {
			res, err := st.apply(u)
			out[i][k] = eventstore.UnitResult{Results: res, Err: err}
		}
	}
	return out
}

// committed records a committed batch: metrics, followers and the cache.
func (s *Store) committed(st *batchState) {
	last := st.newRecs[len(st.newRecs)-1]
	s.cache.remember(last.Position, last.Hash, st.versions)
	s.m.batchSize.Observe(float64(len(st.newRecs)))
	for _, r := range st.newRecs {
		s.m.appended.WithLabelValues(r.Type).Inc()
	}
	s.follow.advance(last.Position)
}

// fastSkipAfterMiss is how many batches take the slow path after the fast
// path missed (another process appended, or idempotent retries), so a
// workload that keeps missing does not pay for both paths every time. It
// doubles with each consecutive miss, up to 8 times.
const fastSkipAfterMiss = 8

// maxCachedStreams bounds the writer's cache of stream versions.
const maxCachedStreams = 1 << 17

// headCache is what the writer knows about the log from its own
// transactions. It is valid while no other process appends: the fast path
// checks that under the lock. Only the holder of Store.writing uses it.
type headCache struct {
	valid    bool
	head     int64
	hash     []byte
	versions map[string]int64
	skip     int // batches left to run on the slow path
	misses   int // consecutive fast-path misses
}

func (c *headCache) invalidate() {
	if c.valid {
		c.valid = false
		clear(c.versions)
	}
}

// remember makes the log's head head (with hash) and adds versions, which
// are the stream versions at that head.
func (c *headCache) remember(head int64, hash []byte, versions map[string]int64) {
	if c.versions == nil || len(c.versions)+len(versions) > maxCachedStreams {
		c.versions = make(map[string]int64, len(versions))
	}
	c.valid, c.head, c.hash = true, head, hash
	for k, v := range versions {
		c.versions[k] = v
	}
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

// implicitReadCommitted reports whether conn's implicit transactions run
// at read committed (the session's default_transaction_isolation, which a
// server, database or role setting may change), asking the server once per
// connection. When it cannot tell it answers false: the explicit
// transaction is correct either way.
func (s *Store) implicitReadCommitted(ctx context.Context, conn *pgxpool.Conn) bool {
	pc := conn.Conn()
	key := connKey{conn: pc, pid: pc.PgConn().PID(), secretKey: string(pc.PgConn().SecretKey())}
	if rc, ok := s.implicitRC[key]; ok {
		return rc
	}
	var level string
	if err := pc.QueryRow(ctx, "SELECT current_setting('default_transaction_isolation')").Scan(&level); err != nil {
		return false
	}
	if len(s.implicitRC) >= maxSeenConns {
		clear(s.implicitRC)
	}
	s.implicitRC[key] = level == "read committed"
	return s.implicitRC[key]
}

// writeAndCommit inserts the batch's new records, notifies followers and
// commits, in one round trip. committed is false when there was nothing to
// write. When the commit's outcome is unknown it is resolved by reading the
// event ids back.
//
// With fast set no transaction is open yet: the batch is [lock, INSERT and
// NOTIFY in one statement], sent as one series of extended-protocol
// messages closed by one Sync, which Postgres runs as one implicit
// transaction and commits at the Sync (an error rolls it back). On a
// connection whose implicit transactions are not read committed (see
// implicitReadCommitted) it is [BEGIN ISOLATION LEVEL READ COMMITTED, lock,
// INSERT and NOTIFY, COMMIT], still one round trip. The INSERT
// writes only if the log's head is still the one the batch was built on
// (st.head and the first record's PrevHash); if it is not, the (empty)
// transaction commits and the result is a *notAppendedError wrapping
// errStaleHead. Without fast the slow path's transaction is open and
// [INSERT and NOTIFY, COMMIT] ends it.
func (s *Store) writeAndCommit(ctx context.Context, conn *pgxpool.Conn, st *batchState, fast bool) (committed bool, err error) {
	if len(st.newRecs) == 0 {
		rollback(conn)
		return false, nil
	}
	if len(st.newRecs) >= s.copyMin {
		return s.copyAndCommit(ctx, conn, st, fast)
	}
	hold := s.beforeCommit != nil // test hook: COMMIT in a second round trip
	// The fast path opens its transaction itself when the test hook holds
	// it open, or when the connection's implicit transactions would not be
	// read committed: under repeatable read or serializable their snapshot
	// is taken before the lock is granted, and the head guard would miss
	// what the lock's previous holder committed.
	begin := fast && (hold || !s.implicitReadCommitted(ctx, conn))
	commit := !hold && (!fast || begin) // COMMIT in this batch
	b := &pgx.Batch{}
	if begin {
		b.Queue(sqlBeginStmt)
	}
	if fast {
		b.Queue(sqlLock, appendLockID)
	}
	insertSQL, insertArgs := insertStatement(st, fast)
	b.Queue(insertSQL, insertArgs...)
	if commit {
		b.Queue("COMMIT")
	}
	br := conn.SendBatch(ctx, b)
	stage, stale, err := readInsert(br, fast, begin)
	if err == nil && commit {
		stage = "commit"
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		// For the implicit transaction the Sync commits: its error is the commit's.
		stage, err = "commit", cerr
	}
	if hold {
		if err != nil {
			rollback(conn)
			return false, &notAppendedError{fmt.Errorf("%s: %w", stage, err)}
		}
		if !stale {
			s.beforeCommit()
		}
		_, err = conn.Exec(ctx, "COMMIT")
		stage = "commit"
	}
	return s.commitOutcome(conn, st, stage, stale, err)
}

// insertStatement is the statement that inserts st's new records and
// notifies followers of the new head, with its arguments; with fast it
// inserts only if the head is still the one the batch was built on.
func insertStatement(st *batchState, fast bool) (string, []any) {
	n := len(st.newRecs)
	args := append(recordArgs(st.newRecs), st.newRecs[n-1].Position)
	if !fast {
		return sqlInsertNotify, args
	}
	// The head the batch was built on (st.lastHash has moved on).
	return sqlInsertIfHeadNotify, append(args, st.newRecs[0].Position-1, st.newRecs[0].PrevHash)
}

// readInsert reads the answers of writeAndCommit's batch up to its INSERT
// (begin: the batch opens with BEGIN): stale is true when the fast path's
// INSERT found another head and wrote nothing; stage names the statement
// that failed.
func readInsert(br pgx.BatchResults, fast, begin bool) (stage string, stale bool, err error) {
	if begin {
		stage = "begin"
		if _, err := br.Exec(); err != nil {
			return stage, false, err
		}
	}
	if fast {
		stage = "take append lock"
		if _, err := br.Exec(); err != nil {
			return stage, false, err
		}
	}
	stage = "insert"
	tag, err := br.Exec()
	if err != nil {
		return stage, false, err
	}
	// The statement returns one row (its NOTIFY) when it stored the new
	// head, which it does with every record of the batch or with none.
	if tag.RowsAffected() != 1 {
		if !fast || tag.RowsAffected() != 0 {
			return stage, false, fmt.Errorf("insert and notify: %d rows", tag.RowsAffected())
		}
		return stage, true, nil
	}
	return stage, false, nil
}

// notifyAndCommit sends [NOTIFY, COMMIT] for a transaction whose rows are
// written (the COPY path's test hook) and returns the outcome.
func (s *Store) notifyAndCommit(ctx context.Context, conn *pgxpool.Conn, st *batchState, stale bool) (bool, error) {
	head := st.newRecs[len(st.newRecs)-1].Position
	b := &pgx.Batch{}
	b.Queue(sqlNotifyIfHead, NotifyChannel, strconv.FormatInt(head, 10), head)
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	stage := "notify"
	_, err := br.Exec()
	if err == nil {
		stage = "commit"
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return s.commitOutcome(conn, st, stage, stale, err)
}

// errStaleHead means the fast path's cached head was not the log's head.
var errStaleHead = errors.New("head moved")

// commitOutcome turns the error of the round trip that sent COMMIT into the
// batch's outcome.
func (s *Store) commitOutcome(conn *pgxpool.Conn, st *batchState, stage string, stale bool, err error) (bool, error) {
	if err == nil {
		if stale {
			return false, &notAppendedError{errStaleHead}
		}
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
	ok, rerr := s.resolveCommit(st.newRecs)
	if rerr != nil {
		return false, fmt.Errorf("%w: %s: %v; resolving: %v", errOutcomeUnknown, stage, err, rerr)
	}
	s.log.Warn("pgstore: commit outcome resolved by reading back", "committed", ok, "events", len(st.newRecs), "err", err)
	if !ok {
		return false, &notAppendedError{fmt.Errorf("%s: %w", stage, err)}
	}
	return true, nil
}

// resolveCommit finds out whether the records of a batch whose commit answer
// was lost are stored, at the positions the batch gave them. It takes the
// append lock first, so the lost transaction has ended when it reads.
func (s *Store) resolveCommit(recs []eventstore.Record) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	ids := make([]pgtype.UUID, len(recs))
	pos := make([]int64, len(recs))
	for i, r := range recs {
		ids[i] = pgtype.UUID{Bytes: r.ID, Valid: true}
		pos[i] = r.Position
	}
	count := func() (int, error) {
		// Read committed whatever the session's default: the count must see
		// what committed while this waited for the lock.
		tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
		if err != nil {
			return 0, err
		}
		defer tx.Rollback(ctx) //nolint:errcheck // read-only
		if _, err := tx.Exec(ctx, sqlLock, appendLockID); err != nil {
			return 0, err
		}
		var n int
		err = tx.QueryRow(ctx, sqlCountStored, ids, pos).Scan(&n)
		return n, err
	}
	delay := 50 * time.Millisecond
	for {
		n, err := count()
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

// unitCount is the number of units in jobs.
func unitCount(jobs []*job) int {
	n := 0
	for _, j := range jobs {
		n += len(j.units)
	}
	return n
}

// recordArgs are the arguments of sqlInsert for recs.
func recordArgs(recs []eventstore.Record) []any {
	n := len(recs)
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
	for i, r := range recs {
		pos[i], streams[i], versions[i] = r.Position, r.StreamID, r.StreamVersion
		ids[i] = pgtype.UUID{Bytes: r.ID, Valid: true}
		types[i], schemas[i] = r.Type, int32(r.SchemaVersion)
		data[i], meta[i] = r.Data, r.Metadata
		occurred[i], recorded[i] = r.OccurredAt, r.RecordedAt
		prev[i], hashes[i] = r.PrevHash, r.Hash
	}
	return []any{pos, streams, versions, ids, types, schemas, data, meta, occurred, recorded, prev, hashes}
}
