package pgstore

// SetBeforeCommit makes s call f inside every append transaction after its
// rows are inserted and before COMMIT. Call it before the first append.
func SetBeforeCommit(s *Store, f func()) { s.beforeCommit = f }
