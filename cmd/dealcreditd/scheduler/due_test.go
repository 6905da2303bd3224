package scheduler

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"dealcredit/internal/testkit/logtest"
	"dealcredit/projections/attribution"
	"dealcredit/projections/runner"
)

// The due expiries are read from an index, in its order: the plan of the
// scheduler's query on the live registrations table has neither a sequential
// scan nor a sort, even where the planner would choose one for a small table
// (sequential scans are priced out, not forbidden: without a fitting index
// Postgres still scans and sorts).
func TestDueExpiriesReadAnIndex(t *testing.T) {
	ctx := context.Background()
	pool := logtest.OpenPool(t, logtest.MigratedDatabase(t))
	if err := runner.Ensure(ctx, pool, attribution.New()); err != nil {
		t.Fatal(err)
	}
	table := pgx.Identifier{runner.Schema(attribution.Name), "registrations"}.Sanitize()
	var plan string
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "EXPLAIN "+dueExpiriesSQL(table), "2026-12-02", batchLimit)
		if err != nil {
			return err
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		plan = strings.Join(lines, "\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plan, "Seq Scan") || strings.Contains(plan, "Sort") || !strings.Contains(plan, "registrations_due") {
		t.Fatalf("due expiries are not read from registrations_due in order:\n%s", plan)
	}
}
