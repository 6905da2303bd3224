package pgstore

// SetBeforeCommit makes s call f inside every append transaction after its
// rows are inserted and before COMMIT. Call it before the first append.
func SetBeforeCommit(s *Store, f func()) { s.beforeCommit = f }

// SetFastSkip sets how many batches take the slow path after the fast path
// missed (default fastSkipAfterMiss). Call it before the first append.
func SetFastSkip(s *Store, n int) { s.fastSkip = n }
