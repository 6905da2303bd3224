package pgstore_test

import (
	"testing"

	"dealcredit/eventstore"
	"dealcredit/eventstore/pgstore"
	"dealcredit/eventstore/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		return mustStore(t, mustPool(t, mustDatabase(t)), pgstore.Options{})
	})
}

// TestConformanceCopy runs the suite with every batch written by COPY (the
// write of large batches), whatever its size.
func TestConformanceCopy(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		s := mustStore(t, mustPool(t, mustDatabase(t)), pgstore.Options{})
		pgstore.SetCopyMin(s, 1)
		return s
	})
}
