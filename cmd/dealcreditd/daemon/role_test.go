package daemon_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"dealcredit/cmd/dealcreditd/config"
	"dealcredit/cmd/dealcreditd/daemon"
	"dealcredit/internal/testkit/daemontest"
	"dealcredit/internal/testkit/pgtest"
)

// TestSeparateMigrationDSN: with DATABASE_MIGRATION_URL the owner creates
// and migrates the database and DATABASE_URL (the app role) serves. Given
// only the app role's DSN, the daemon does not migrate: it serves a
// migrated database and refuses an unmigrated one, saying what to run.
func TestSeparateMigrationDSN(t *testing.T) {
	owner := pgtest.MissingDatabase(t)
	app := config.AsRole(owner, config.AppRole)
	d := daemontest.Start(t, map[string]string{"DATABASE_MIGRATION_URL": owner, "DATABASE_URL": app})
	d.WaitReady(t)
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	daemontest.Start(t, map[string]string{"DATABASE_URL": app}).WaitReady(t)

	bare := pgtest.NewDatabase(t)
	env := map[string]string{
		"DATABASE_URL":                  config.AsRole(bare, config.AppRole),
		"DEALCREDIT_DATA_DIR":           t.TempDir(),
		"DEALCREDIT_HTTP_ADDR":          "127.0.0.1:0",
		"DEALCREDIT_EMBEDDED_NATS_ADDR": "127.0.0.1:0",
	}
	err := daemon.Run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "dealcredit migrate") {
		t.Fatalf("Run as the app role on an unmigrated database = %v, want a refusal naming dealcredit migrate", err)
	}
}

// TestRefusesARoleThatCanRewriteHistory (issue 11, finding 4): a daemon
// told to serve as a superuser (which could disable the log's triggers)
// does not start, and says why.
func TestRefusesARoleThatCanRewriteHistory(t *testing.T) {
	owner := pgtest.MissingDatabase(t)
	env := map[string]string{
		"DATABASE_MIGRATION_URL":        owner,
		"DATABASE_URL":                  owner,
		"DEALCREDIT_DATA_DIR":           t.TempDir(),
		"DEALCREDIT_HTTP_ADDR":          "127.0.0.1:0",
		"DEALCREDIT_EMBEDDED_NATS_ADDR": "127.0.0.1:0",
	}
	err := daemon.Run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "superuser") || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("Run as a superuser = %v, want a refusal naming the role problem and DATABASE_URL", err)
	}
}
