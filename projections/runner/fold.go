package runner

import (
	"context"
	"fmt"
	"time"

	"dealcredit/eventstore"
)

// DefaultBatchSize is the number of records read and applied per transaction.
// Under MemoryLimit a smaller batch leaves the collector more room: the
// attribution rebuild spent 104 us of Go CPU per event in batches of 5,000
// (live heap ~32 MB, a collection every ~10 MB allocated, the scavenger
// returning pages all the time) against 60 us in batches of 2,500 or 1,250,
// with Postgres's CPU per event unchanged (docs/benchmarks.md).
const DefaultBatchSize = 2500

// MemoryLimit is the soft memory limit (runtime/debug.SetMemoryLimit) the
// dealcredit commands that fold the whole log (rebuild, replay, verify) set
// when GOMEMLIMIT is not set. With DefaultBatchSize the attribution fold's
// live heap stays well below it (about 30 MB), so the garbage collector keeps
// the resident set flat instead of letting the heap double between cycles;
// docs/benchmarks.md has the measurements with and without it.
const MemoryLimit = 48 << 20

// Limit bounds a fold: it stops before the first record beyond Position
// (when > 0) or recorded after Time (when not zero). The zero Limit folds
// up to the head of the log as read; a negative Position folds nothing.
type Limit struct {
	Position int64
	Time     time.Time
}

// beyond reports whether r lies past the limit. A limit in time is a prefix
// of the log: the fold stops at the first record recorded after it.
func (l Limit) beyond(r eventstore.Record) bool {
	if l.Position > 0 && r.Position > l.Position {
		return true
	}
	if !l.Time.IsZero() && r.RecordedAt.After(l.Time) {
		return true
	}
	return false
}

// foldRange reads the log after from, in batches, and calls fn with each
// batch until the log (as read) or the limit ends. It returns the position
// of the last record passed to fn (from when none). The next batch is read
// while fn works on the current one, so memory is bounded by two batches.
func foldRange(ctx context.Context, log eventstore.Reader, from int64, limit Limit, batchSize int, fn func([]eventstore.Record) error) (int64, error) {
	pos := from
	if limit.Position < 0 {
		return pos, nil
	}
	size := func(pos int64) int {
		n := batchSize
		if limit.Position > 0 {
			if rem := limit.Position - pos; rem < int64(n) {
				n = int(rem)
			}
		}
		return n
	}
	type read struct {
		batch []eventstore.Record
		err   error
	}
	start := func(pos int64) <-chan read {
		ch := make(chan read, 1) // buffered: an abandoned read never blocks
		go func() {
			b, err := log.ReadAll(ctx, pos, size(pos))
			ch <- read{b, err}
		}()
		return ch
	}
	var pending <-chan read
	for {
		if limit.Position > 0 && pos >= limit.Position {
			return pos, nil
		}
		if pending == nil {
			pending = start(pos)
		}
		res := <-pending
		pending = nil
		if res.err != nil {
			return pos, fmt.Errorf("projection: read log after %d: %w", pos, res.err)
		}
		batch := res.batch
		if len(batch) == 0 {
			return pos, nil
		}
		cut := len(batch)
		for i, r := range batch {
			if limit.beyond(r) {
				cut = i
				break
			}
		}
		if cut == len(batch) && (limit.Position <= 0 || batch[cut-1].Position < limit.Position) {
			pending = start(batch[cut-1].Position)
		}
		if cut > 0 {
			if err := fn(batch[:cut]); err != nil {
				return pos, err
			}
			pos = batch[cut-1].Position
		}
		if cut < len(batch) {
			return pos, nil
		}
	}
}
