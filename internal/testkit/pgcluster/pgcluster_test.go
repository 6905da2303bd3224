package pgcluster_test

import (
	"testing"

	"dealcredit/internal/testkit/pgcluster"
)

// TestStandbyStreamsAndPromotes checks the helper itself: a row committed
// on the primary is on the synchronous standby, and after the primary is
// killed the promoted standby accepts writes.
func TestStandbyStreamsAndPromotes(t *testing.T) {
	c := pgcluster.Start(t, pgcluster.Options{Synchronous: true})
	if err := c.Exec(c.Primary, "postgres", "CREATE TABLE t (x int); INSERT INTO t VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	var x int
	if err := c.Query(c.Standby, "postgres", "SELECT x FROM t", &x); err != nil || x != 42 {
		t.Fatalf("standby: x = %d, %v; want 42", x, err)
	}
	c.KillPrimary(t)
	c.Promote(t)
	if err := c.Exec(c.Standby, "postgres", "INSERT INTO t VALUES (43)"); err != nil {
		t.Fatalf("write on the promoted standby: %v", err)
	}
}
