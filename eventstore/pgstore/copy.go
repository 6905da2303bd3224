package pgstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"dealcredit/eventstore"
)

// copyMinRecords is the batch size from which the writer stores the records
// with COPY (binary) instead of INSERT ... SELECT FROM unnest: COPY costs
// about half as much per row inside Postgres but two more round trips per
// batch (see docs/benchmarks.md, "How an append is written").
const copyMinRecords = 64

const (
	sqlCopy = `COPY events (` + recordColumns + `) FROM STDIN (FORMAT binary)`
	// sqlHeadIs reports whether the log's last event is at position $1 with
	// hash $2 (0 and any hash: the log is empty).
	sqlHeadIs = `SELECT ` + headGuard
)

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
	int8f := func(v int64) { b = binary.BigEndian.AppendUint32(b, 8); b = binary.BigEndian.AppendUint64(b, uint64(v)) }
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

// copyAndCommit is writeAndCommit for a batch of at least copyMinRecords
// records: [BEGIN, lock, is the head still the batch's?] (fast only), then
// COPY, then [NOTIFY, COMMIT]. The fast path's head check runs under the
// lock before the COPY, so a stale head writes nothing.
func (s *Store) copyAndCommit(ctx context.Context, conn *pgxpool.Conn, st *batchState, fast bool) (bool, error) {
	n := len(st.newRecs)
	head := st.newRecs[n-1].Position
	stage := "begin"
	if fast {
		b := &pgx.Batch{}
		b.Queue(sqlBeginStmt)
		b.Queue(sqlLock, appendLockID)
		b.Queue(sqlHeadIs, st.newRecs[0].Position-1, st.newRecs[0].PrevHash)
		br := conn.SendBatch(ctx, b)
		var isHead bool
		_, err := br.Exec()
		if err == nil {
			stage = "take append lock"
			_, err = br.Exec()
		}
		if err == nil {
			stage = "check head"
			err = br.QueryRow().Scan(&isHead)
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		// No COMMIT was sent: whatever failed, nothing is stored.
		if err != nil {
			rollback(conn)
			return false, &notAppendedError{fmt.Errorf("%s: %w", stage, err)}
		}
		if !isHead {
			rollback(conn)
			return false, &notAppendedError{errStaleHead}
		}
	}
	stage = "copy"
	tag, err := conn.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(encodeCopy(st.newRecs)), sqlCopy)
	if err == nil && tag.RowsAffected() != int64(n) {
		err = fmt.Errorf("copied %d rows of %d", tag.RowsAffected(), n)
	}
	if err != nil {
		rollback(conn)
		return false, &notAppendedError{fmt.Errorf("%s: %w", stage, err)}
	}
	if s.beforeCommit != nil {
		s.beforeCommit()
	}
	b := &pgx.Batch{}
	b.Queue(sqlNotifyIfHead, NotifyChannel, strconv.FormatInt(head, 10), head)
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	stage = "notify"
	_, err = br.Exec()
	if err == nil {
		stage = "commit"
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return s.commitOutcome(conn, st, stage, false, err)
}
