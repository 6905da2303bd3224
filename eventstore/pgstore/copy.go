package pgstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"dealcredit/eventstore"
)

// copyMinRecords is the batch size from which the writer stores the records
// with COPY (binary) instead of INSERT ... SELECT FROM unnest: COPY costs
// about half as much per row inside Postgres at 200-2,000 rows, but its
// simple-protocol query is parsed and planned every time, which small
// batches do not win back (docs/benchmarks.md, "Issue 16: the write path").
const copyMinRecords = 64

// sqlstateDivisionByZero is the error of the fast path's failed head check.
const sqlstateDivisionByZero = "22012"

const sqlCopy = `COPY events (` + recordColumns + `) FROM STDIN (FORMAT binary)`

// pgEpochMicros is 2000-01-01 UTC, Postgres' timestamp epoch, in Unix microseconds.
const pgEpochMicros = 946684800 * 1000000

// copyHeader is the signature, flags and header extension of the binary COPY format.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// encodeCopy renders recs in the binary COPY format, columns in the order
// of recordColumns.
func encodeCopy(recs []eventstore.Record) []byte {
	size := len(copyHeader) + 2
	for _, r := range recs {
		size += 2 + 12*4 + 8 + len(r.StreamID) + 8 + 16 + len(r.Type) + 4 + len(r.Data) + len(r.Metadata) + 8 + 8 + len(r.PrevHash) + len(r.Hash)
	}
	b := make([]byte, 0, size)
	b = append(b, copyHeader...)
	field := func(p []byte) { b = binary.BigEndian.AppendUint32(b, uint32(len(p))); b = append(b, p...) }
	int8f := func(v int64) {
		b = binary.BigEndian.AppendUint32(b, 8)
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	for _, r := range recs {
		b = binary.BigEndian.AppendUint16(b, 12)
		int8f(r.Position)
		field([]byte(r.StreamID))
		int8f(r.StreamVersion)
		field(r.ID[:])
		field([]byte(r.Type))
		b = binary.BigEndian.AppendUint32(b, 4)
		b = binary.BigEndian.AppendUint32(b, uint32(int32(r.SchemaVersion)))
		field(r.Data) // json's binary form is its text
		field(r.Metadata)
		int8f(r.OccurredAt.UnixMicro() - pgEpochMicros)
		int8f(r.RecordedAt.UnixMicro() - pgEpochMicros)
		field(r.PrevHash)
		field(r.Hash)
	}
	return binary.BigEndian.AppendUint16(b, 0xffff) // trailer: -1
}

// copyAndCommit is writeAndCommit for a batch of at least copyMin records,
// in one round trip: one simple-protocol query [BEGIN, lock, head check]
// (fast only), COPY, [NOTIFY, COMMIT], with the COPY data sent behind it
// without waiting for the server. A statement that fails ends the query
// there, so COMMIT runs only if every statement before it passed; the COPY
// data the server receives after a failure is dropped (protocol rule).
//
// The fast path's head check runs under the lock before the COPY and fails
// the query (division by zero, SQLSTATE 22012) when the log's last event is
// not the one the batch was built on.
func (s *Store) copyAndCommit(ctx context.Context, conn *pgxpool.Conn, st *batchState, fast bool) (bool, error) {
	n := len(st.newRecs)
	head := st.newRecs[n-1].Position
	var q strings.Builder
	if fast {
		guard := strings.NewReplacer(
			"$1", strconv.FormatInt(st.newRecs[0].Position-1, 10),
			"$2", "decode('"+hex.EncodeToString(st.newRecs[0].PrevHash)+"', 'hex')",
		).Replace(headGuard)
		fmt.Fprintf(&q, "%s; SELECT pg_advisory_xact_lock(%d); SELECT 1 / (%s)::int; ", sqlBeginStmt, appendLockID, guard)
	}
	q.WriteString(sqlCopy)
	hold := s.beforeCommit != nil // test hook: COMMIT in a second round trip
	if !hold {
		fmt.Fprintf(&q, "; SELECT pg_notify('%s', '%d') FROM events WHERE position = %d; COMMIT", NotifyChannel, head, head)
	}
	stage := "copy"
	tag, err := conn.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(encodeCopy(st.newRecs)), q.String())
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == sqlstateDivisionByZero:
		rollback(conn)
		return false, &notAppendedError{errStaleHead}
	case err != nil:
		return s.commitOutcome(conn, st, stage, false, err)
	case !hold && tag.String() != "COMMIT":
		rollback(conn)
		return false, &notAppendedError{fmt.Errorf("copy and commit: ended with %q", tag.String())}
	case !hold:
		return true, nil
	case tag.RowsAffected() != int64(n):
		rollback(conn)
		return false, &notAppendedError{fmt.Errorf("copied %d rows of %d", tag.RowsAffected(), n)}
	}
	s.beforeCommit()
	return s.notifyAndCommit(ctx, conn, st, false)
}
