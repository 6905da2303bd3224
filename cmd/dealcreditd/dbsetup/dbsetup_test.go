package dbsetup_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"dealcredit/cmd/dealcreditd/config"
	"dealcredit/cmd/dealcreditd/dbsetup"
	"dealcredit/internal/testkit/pgtest"
)

func TestUpMigratesAndCheckAgrees(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	if err := dbsetup.Check(ctx, conn); err == nil || !strings.Contains(err.Error(), "not applied") {
		t.Fatalf("Check on an empty database = %v, want 'not applied'", err)
	}
	if err := dbsetup.Up(ctx, dsn); err != nil {
		t.Fatalf("Up: %v", err)
	}
	if err := dbsetup.Up(ctx, dsn); err != nil {
		t.Fatalf("second Up must be a no-op: %v", err)
	}
	if err := dbsetup.Check(ctx, conn); err != nil {
		t.Fatalf("Check after Up: %v", err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil || n != 0 {
		t.Fatalf("events table: n=%d err=%v", n, err)
	}
}

// TestCheckRoleRefusesOwners: the daemon refuses a role that could rewrite
// the log (the superuser that ran the migrations) and accepts the app role.
func TestCheckRoleRefusesOwners(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	if err := dbsetup.Up(ctx, dsn); err != nil {
		t.Fatalf("Up: %v", err)
	}
	owner, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	if err := dbsetup.CheckRole(ctx, owner); err == nil || !strings.Contains(err.Error(), "rewrite") {
		t.Fatalf("CheckRole(superuser) = %v, want a refusal", err)
	}
	app, err := pgx.Connect(ctx, config.AsRole(dsn, config.AppRole))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)
	if err := dbsetup.CheckRole(ctx, app); err != nil {
		t.Fatalf("CheckRole(app) = %v", err)
	}
	if err := dbsetup.Check(ctx, app); err != nil {
		t.Fatalf("the app role cannot read the migration versions: %v", err)
	}
}

// TestUpHandsOldReadModelsToTheAppRole: read models built before the roles
// migration (by a daemon that ran as the superuser) become the app role's,
// so it can rebuild and swap them.
func TestUpHandsOldReadModelsToTheAppRole(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{
		"CREATE SCHEMA proj_old",
		"CREATE TABLE proj_old.things (id int PRIMARY KEY)",
		"CREATE TABLE projection_checkpoints (name text PRIMARY KEY)",
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if err := dbsetup.Up(ctx, dsn); err != nil {
		t.Fatalf("Up: %v", err)
	}
	rows, err := conn.Query(ctx, `SELECT 'schema proj_old', nspowner::regrole::text FROM pg_namespace WHERE nspname = 'proj_old'
		UNION ALL SELECT 'table ' || oid::regclass::text, relowner::regrole::text FROM pg_class
		WHERE oid IN ('proj_old.things'::regclass, 'projection_checkpoints'::regclass)`)
	if err != nil {
		t.Fatal(err)
	}
	owners, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
		What, Owner string
	}])
	if err != nil || len(owners) != 3 {
		t.Fatalf("owners %v, err %v", owners, err)
	}
	for _, o := range owners {
		if o.Owner != config.AppRole {
			t.Errorf("%s owned by %s, want %s", o.What, o.Owner, config.AppRole)
		}
	}
}
