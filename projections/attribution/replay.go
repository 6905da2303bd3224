package attribution

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"dealcredit/eventstore"
	"dealcredit/internal/pgpipe"
	"dealcredit/projections/runner"

	"github.com/jackc/pgx/v5/pgxpool"
)

// AsOf selects a prefix of the log: up to Position (when > 0) and/or up to
// the last event recorded at or before Time (when not zero).
type AsOf struct {
	Position int64
	Time     time.Time
}

// Replay rebuilds the attribution model from the log alone, as it stood at
// asOf, in a temporary schema (never the live tables), writes
// attribution.csv, statements.csv, revenue_mix.csv and overflowed_totals.csv
// (the currencies whose totals overflowed, whose statements and revenue mix
// rows are left out: docs/rules.md) into outDir and drops
// the schema. Memory is bounded by the program state and one batch. It
// returns the position replayed to.
func Replay(ctx context.Context, pool *pgxpool.Pool, log eventstore.Reader, asOf AsOf, outDir string, progress func(pos, head int64)) (int64, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return 0, fmt.Errorf("attribution: replay: %w", err)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("attribution: replay: %w", err)
	}
	schema := "proj_replay_" + hex.EncodeToString(b[:])
	defer func() { _ = runner.DropSchema(context.WithoutCancel(ctx), pool, schema) }()
	pos, _, err := runner.Build(ctx, pool, log, New(), schema, runner.Limit{Position: asOf.Position, Time: asOf.Time}, 0, progress)
	if err != nil {
		return 0, fmt.Errorf("attribution: replay: %w", err)
	}
	r := &Reader{pool: pool, pipe: pgpipe.New(pool), bulk: pgpipe.New(pool), schema: schema, fixed: pos, skipOverflow: true}
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{"attribution.csv", func(w io.Writer) error { _, err := r.WriteLedgerCSV(ctx, w, "", ""); return err }},
		{"statements.csv", func(w io.Writer) error { _, err := r.WriteStatementsCSV(ctx, w, "", ""); return err }},
		{"revenue_mix.csv", func(w io.Writer) error { _, err := r.WriteRevenueMixCSV(ctx, w, ""); return err }},
		{"overflowed_totals.csv", func(w io.Writer) error { return r.writeOverflowedCSV(ctx, w) }},
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(outDir, f.name), f.write); err != nil {
			return 0, err
		}
	}
	return pos, nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("attribution: replay: %w", err)
	}
	if err := write(f); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("attribution: replay: %w", err)
	}
	return nil
}

// writeOverflowedCSV writes the currencies whose totals overflowed as CSV
// (header "currency").
func (r *Reader) writeOverflowedCSV(ctx context.Context, w io.Writer) error {
	cs, err := r.OverflowedTotals(ctx)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"currency"})
	for _, c := range cs {
		_ = cw.Write([]string{c})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("attribution: write csv: %w", err)
	}
	return nil
}
