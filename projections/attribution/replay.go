package attribution

import (
	"context"
	"crypto/rand"
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
// attribution.csv, statements.csv and revenue_mix.csv into outDir and drops
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
	r := &Reader{pool: pool, pipe: pgpipe.New(pool), bulk: pgpipe.New(pool), schema: schema, fixed: pos}
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{"attribution.csv", func(w io.Writer) error { _, err := r.WriteLedgerCSV(ctx, w, "", ""); return err }},
		{"statements.csv", func(w io.Writer) error { _, err := r.WriteStatementsCSV(ctx, w, "", ""); return err }},
		{"revenue_mix.csv", func(w io.Writer) error { _, err := r.WriteRevenueMixCSV(ctx, w, ""); return err }},
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
