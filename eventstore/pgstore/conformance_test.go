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
