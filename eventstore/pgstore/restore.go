package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"dealcredit/eventstore"
)

const sqlHashesAt = `SELECT position, hash FROM events WHERE position = ANY($1::bigint[])`

// Restore writes records taken from an exact copy of the log (the JetStream
// mirror) back into the log verbatim: same ids, positions, stream versions,
// times and hashes. It is how events lost by a database failover come back.
//
// recs must be in position order without gaps. Records the log already
// holds must be identical to it (same hash at the same position): Restore
// skips them, so running it again is a no-op. The first record the log lacks
// must be at the log's head + 1 and continue its hash chain, and every
// record's hash must match its content. Anything else is refused, naming the
// position, with a *eventstore.ChainError, and nothing is written. It runs
// under the writer's append lock and returns how many records it wrote.
func (s *Store) Restore(ctx context.Context, recs []eventstore.Record) (int, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].Position != recs[i-1].Position+1 {
			return 0, &eventstore.ChainError{Position: recs[i-1].Position + 1, Reason: fmt.Sprintf("records to restore jump from position %d to %d", recs[i-1].Position, recs[i].Position)}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, batchTimeout)
	defer cancel()
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return 0, fmt.Errorf("pgstore: restore: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after commit
	if _, err := tx.Exec(ctx, sqlLock, appendLockID); err != nil {
		return 0, fmt.Errorf("pgstore: restore: take append lock: %w", err)
	}
	var head int64
	headHash := eventstore.ZeroHash
	if err := tx.QueryRow(ctx, sqlHead).Scan(&head, &headHash); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("pgstore: restore: read head: %w", err)
	}

	// Records the log holds must be the log's own.
	held := recs
	if i := int(min(max(head-recs[0].Position+1, 0), int64(len(recs)))); i < len(recs) {
		held, recs = recs[:i], recs[i:]
	} else {
		recs = nil
	}
	if err := checkHeld(ctx, tx, held); err != nil {
		return 0, err
	}
	if len(recs) == 0 {
		return 0, nil
	}
	if recs[0].Position != head+1 {
		return 0, &eventstore.ChainError{Position: head + 1, Reason: fmt.Sprintf("the log ends at position %d but the records to restore start at %d", head, recs[0].Position)}
	}
	prev := headHash
	for _, r := range recs {
		switch {
		case !bytes.Equal(r.PrevHash, prev):
			return 0, &eventstore.ChainError{Position: r.Position, Reason: fmt.Sprintf("does not continue the log's hash chain: prev_hash %x, the log's hash before it %x", r.PrevHash, prev)}
		case !bytes.Equal(r.Hash, eventstore.HashRecord(prev, r)):
			return 0, &eventstore.ChainError{Position: r.Position, Reason: fmt.Sprintf("hash %x does not match the record's content", r.Hash)}
		}
		prev = r.Hash
	}

	n := len(recs)
	tag, err := tx.Exec(ctx, sqlInsert, recordArgs(recs)...)
	if err != nil {
		return 0, fmt.Errorf("pgstore: restore positions %d to %d: %w", recs[0].Position, recs[n-1].Position, err)
	}
	if tag.RowsAffected() != int64(n) {
		return 0, fmt.Errorf("pgstore: restore: inserted %d rows of %d", tag.RowsAffected(), n)
	}
	last := recs[n-1].Position
	if _, err := tx.Exec(ctx, sqlNotifyIfHead, NotifyChannel, strconv.FormatInt(last, 10), last); err != nil {
		return 0, fmt.Errorf("pgstore: restore: notify: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("pgstore: restore: commit: %w", err)
	}
	s.log.Warn("pgstore: restored events from the mirror", "from", recs[0].Position, "to", last)
	return n, nil
}

// checkHeld fails with a *eventstore.ChainError at the first record whose
// position the log holds with another hash (a forked record).
func checkHeld(ctx context.Context, tx pgx.Tx, held []eventstore.Record) error {
	if len(held) == 0 {
		return nil
	}
	pos := make([]int64, len(held))
	for i, r := range held {
		pos[i] = r.Position
	}
	rows, err := tx.Query(ctx, sqlHashesAt, pos)
	if err != nil {
		return fmt.Errorf("pgstore: restore: read stored hashes: %w", err)
	}
	stored := make(map[int64][]byte, len(held))
	for rows.Next() {
		var p int64
		var h []byte
		if err := rows.Scan(&p, &h); err != nil {
			rows.Close()
			return fmt.Errorf("pgstore: restore: read stored hashes: %w", err)
		}
		stored[p] = h
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pgstore: restore: read stored hashes: %w", err)
	}
	for _, r := range held {
		if h, ok := stored[r.Position]; !ok || !bytes.Equal(h, r.Hash) {
			return &eventstore.ChainError{Position: r.Position, Reason: fmt.Sprintf("the log holds another event at position %d than the mirror (forked record: the database appended new events after a failover lost the mirror's)", r.Position)}
		}
	}
	return nil
}
