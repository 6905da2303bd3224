package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"dealcredit/eventstore"
)

const recordColumns = `position, stream_id, stream_version, event_id, type, schema_version, data, metadata, occurred_at, recorded_at, prev_hash, hash`

// MaxReadLimit caps the records one ReadAll returns.
const MaxReadLimit = 10000

// ReadStream returns the events of stream with version > afterVersion, in
// version order.
func (s *Store) ReadStream(ctx context.Context, stream string, afterVersion int64) ([]eventstore.Record, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+recordColumns+` FROM events WHERE stream_id = $1 AND stream_version > $2 ORDER BY stream_version`, stream, afterVersion)
	if err != nil {
		return nil, fmt.Errorf("pgstore: read stream %s: %w", stream, err)
	}
	recs, err := collect(rows, 0)
	if err != nil {
		return nil, fmt.Errorf("pgstore: read stream %s: %w", stream, err)
	}
	return recs, nil
}

// readStreamsChunk is how many streams one ReadStreams query names.
const readStreamsChunk = 1000

// ReadStreams returns the events of each of streams (whole), in version
// order, reading readStreamsChunk streams per query; a stream with no events
// is absent from the map. Each query is its own snapshot: callers that need
// the streams consistent with each other guard them with expected versions
// when they append, as they would after ReadStream.
func (s *Store) ReadStreams(ctx context.Context, streams []string) (map[string][]eventstore.Record, error) {
	out := make(map[string][]eventstore.Record, len(streams))
	for chunk := range slices.Chunk(streams, readStreamsChunk) {
		rows, err := s.pool.Query(ctx, `SELECT `+recordColumns+` FROM events WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, stream_version`, chunk)
		if err != nil {
			return nil, fmt.Errorf("pgstore: read %d streams: %w", len(chunk), err)
		}
		recs, err := collect(rows, 0)
		if err != nil {
			return nil, fmt.Errorf("pgstore: read %d streams: %w", len(chunk), err)
		}
		for _, r := range recs {
			out[r.StreamID] = append(out[r.StreamID], r)
		}
	}
	return out, nil
}

// ReadAll returns up to limit records with position > after, in position
// order. limit is capped at MaxReadLimit; limit <= 0 means MaxReadLimit.
func (s *Store) ReadAll(ctx context.Context, after int64, limit int) ([]eventstore.Record, error) {
	if limit <= 0 || limit > MaxReadLimit {
		limit = MaxReadLimit
	}
	rows, err := s.pool.Query(ctx, `SELECT `+recordColumns+` FROM events WHERE position > $1 ORDER BY position LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("pgstore: read all after %d: %w", after, err)
	}
	recs, err := collect(rows, limit)
	if err != nil {
		return nil, fmt.Errorf("pgstore: read all after %d: %w", after, err)
	}
	return recs, nil
}

// Head returns the position of the last committed record, 0 when the log is
// empty.
func (s *Store) Head(ctx context.Context) (int64, error) {
	var head int64
	err := scanHead(s.pool.QueryRow(ctx, headSQL), &head)
	return head, err
}

// headSQL reads the log's head (no row: an empty log).
const headSQL = `SELECT position FROM events ORDER BY position DESC LIMIT 1`

// QueueHead queues the read of the log's head, as Head reads it, on b: to
// go in one round trip with the batch's other queries (e.g. a projection's
// checkpoint, runner.QueueReadCheckpoint). *head is set when the batch's
// results are read (an error of the read is the batch's Close error).
func QueueHead(b *pgx.Batch, head *int64) {
	b.Queue(headSQL).QueryRow(func(row pgx.Row) error { return scanHead(row, head) })
}

func scanHead(row pgx.Row, head *int64) error {
	*head = 0
	if err := row.Scan(head); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("pgstore: head: %w", err)
	}
	return nil
}

// collect scans rows into records, into a slice of capacity size (the most
// rows a read can return: a rebuild reads full batches, and growing the slice
// by doubling copied each batch's records twice over); 0: unknown.
func collect(rows pgx.Rows, size int) ([]eventstore.Record, error) {
	defer rows.Close()
	recs := make([]eventstore.Record, 0, size)
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return recs, nil
}

func scanRecord(row pgx.Row) (eventstore.Record, error) {
	var (
		r                  eventstore.Record
		id                 pgtype.UUID
		schema             int32
		data, meta         []byte
		occurred, recorded time.Time
	)
	if err := row.Scan(&r.Position, &r.StreamID, &r.StreamVersion, &id, &r.Type, &schema, &data, &meta, &occurred, &recorded, &r.PrevHash, &r.Hash); err != nil {
		return r, fmt.Errorf("scan record: %w", err)
	}
	r.ID = id.Bytes
	r.SchemaVersion = int(schema)
	r.Data, r.Metadata = data, meta
	r.OccurredAt, r.RecordedAt = occurred.UTC(), recorded.UTC()
	return r, nil
}
