package pgstore

import "dealcredit/eventstore"

// SetBeforeCommit makes s call f inside every append transaction after its
// rows are inserted and before COMMIT. Call it before the first append.
func SetBeforeCommit(s *Store, f func()) { s.beforeCommit = f }

// SetFastSkip sets how many batches take the slow path after the fast path
// missed (default fastSkipAfterMiss). Call it before the first append.
func SetFastSkip(s *Store, n int) { s.fastSkip = n }

// SetCopyMin sets the batch size from which the writer uses COPY instead of
// INSERT (default copyMinRecords); 1 writes every batch with COPY. Call it
// before the first append.
func SetCopyMin(s *Store, n int) { s.copyMin = n }

// AppendLockID is the advisory lock every append transaction takes.
var AppendLockID = appendLockID

// ResolveCommit finds out whether recs, a batch whose commit answer was
// lost, are stored (see resolveCommit).
func ResolveCommit(s *Store, recs []eventstore.Record) (bool, error) { return s.resolveCommit(recs) }
