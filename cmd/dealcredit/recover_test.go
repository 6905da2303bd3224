package main

import (
	"strings"
	"testing"

	"dealcredit/internal/testkit/daemontest"
)

// TestRecoverCommand runs recover against a daemon whose log and mirror
// agree: without --from-mirror it refuses naming the flag, with it it is a
// no-op that says so (the restore itself is tested in eventstore/mirror and
// deployments/failover_test.go).
func TestRecoverCommand(t *testing.T) {
	d := daemontest.Start(t, nil)
	out, err := cli(t, d, "recover")
	if err == nil || !strings.Contains(err.Error(), "--from-mirror") {
		t.Fatalf("recover without --from-mirror: %v\n%s", err, out)
	}
	out, err = cli(t, d, "recover", "--from-mirror")
	if err != nil || !strings.Contains(out, "ok   nothing to recover") {
		t.Fatalf("recover --from-mirror on an intact log: %v\n%s", err, out)
	}
}
