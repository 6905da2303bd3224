package dbsetup_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"dealcredit/internal/dbsetup"
	"dealcredit/internal/pgtest"
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
