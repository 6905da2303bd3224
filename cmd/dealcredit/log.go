package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"dealcredit/cmd/dealcreditd/config"
	"dealcredit/cmd/dealcreditd/dbsetup"
	"dealcredit/eventstore"
	"dealcredit/eventstore/mirror"
	"dealcredit/eventstore/pgstore"
	"dealcredit/projections"
	"dealcredit/projections/runner"
)

func (e *env) migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "create the database named in DATABASE_MIGRATION_URL (else DATABASE_URL) if missing and apply every migration as its owner",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dsn := e.cfg.OwnerDatabaseURL()
			if err := dbsetup.Up(cmd.Context(), dsn); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "database %s migrated\n", config.Redact(dsn))
			return nil
		},
	}
}

func (e *env) verifyCmd() *cobra.Command {
	var skipMirror, checkProjections bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "check the hash chain of the whole Postgres log and that the JetStream mirror matches it",
		Long: "verify recomputes the SHA-256 chain of the whole log, then compares it record by record with the\n" +
			"JetStream mirror DEALCREDIT_EVENTS. It exits 0 only if both hold; otherwise it prints the first bad\n" +
			"position and exits 2.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			pool, store, closeStore, err := e.openStore(ctx)
			if err != nil {
				return err
			}
			defer closeStore()
			head, err := store.Head(ctx)
			if err != nil {
				return err
			}
			tick, done := e.progress(head, "chain")
			rep, err := store.Verify(ctx, tick)
			done()
			if err != nil && !pgstore.IsChainError(err) {
				return fmt.Errorf("verify chain: %w", err)
			}
			if !rep.OK() {
				fmt.Fprintf(e.stdout, "FAIL log: first bad position %d: %s\n", rep.BadPosition, rep.Reason)
				return failure{2}
			}
			fmt.Fprintf(e.stdout, "ok   log: %d events, chain holds, head %d hash %s\n", rep.Records, rep.Head, hex.EncodeToString(rep.HeadHash))
			if !skipMirror {
				if err := e.verifyMirror(ctx, store, head); err != nil {
					return err
				}
			}
			if !checkProjections {
				return nil
			}
			prep, err := e.verifyProjections(ctx, pool, store)
			if err != nil {
				return fmt.Errorf("verify projections: %w", err)
			}
			for _, p := range prep.Projections {
				if p.OK {
					fmt.Fprintf(e.stdout, "ok   projection %s: rebuilt from the log at position %d, identical to the live tables\n", p.Name, p.Position)
					continue
				}
				fmt.Fprintf(e.stdout, "FAIL projection %s: table %s differs, first row: %s\n", p.Name, p.Table, p.FirstDiff)
			}
			if !prep.OK() {
				return failure{2}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&skipMirror, "no-mirror", false, "check the Postgres chain only")
	cmd.Flags().BoolVar(&checkProjections, "projections", false, "also rebuild every projection into scratch tables and compare it with the live one")
	return cmd
}

func (e *env) tailCmd() *cobra.Command {
	var after int64
	var limit int
	var follow bool
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "print the log from a position as JSON lines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case after < 0:
				return fmt.Errorf("--after: want a position of 0 or more, got %d", after)
			case limit < 0:
				return fmt.Errorf("--limit: want 0 (no limit) or more, got %d", limit)
			}
			ctx := cmd.Context()
			_, store, closeStore, err := e.openStore(ctx)
			if err != nil {
				return err
			}
			defer closeStore()
			enc := json.NewEncoder(e.stdout)
			printed := 0
			for limit <= 0 || printed < limit {
				recs, err := store.ReadAll(ctx, after, 1000)
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				for _, r := range recs {
					if limit > 0 && printed >= limit {
						return nil
					}
					if err := enc.Encode(tailLine{
						Position: r.Position, Stream: r.StreamID, Version: r.StreamVersion, ID: r.ID.String(),
						Type: r.Type, SchemaVersion: r.SchemaVersion, OccurredAt: r.OccurredAt.UTC().Format("2006-01-02T15:04:05.999999Z07:00"),
						RecordedAt: r.RecordedAt.UTC().Format("2006-01-02T15:04:05.999999Z07:00"), Data: r.Data, Metadata: r.Metadata,
						Hash: hex.EncodeToString(r.Hash),
					}); err != nil {
						return err
					}
					after = r.Position
					printed++
				}
				if len(recs) > 0 {
					continue
				}
				if !follow {
					return nil
				}
				if _, err := store.WaitFor(ctx, after); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&after, "after", 0, "print events after this position")
	cmd.Flags().IntVar(&limit, "limit", 0, "stop after this many events (0 = no limit)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events as they commit")
	return cmd
}

type tailLine struct {
	Position      int64           `json:"position"`
	Stream        string          `json:"stream"`
	Version       int64           `json:"stream_version"`
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	OccurredAt    string          `json:"occurred_at"`
	RecordedAt    string          `json:"recorded_at"`
	Data          json.RawMessage `json:"data"`
	Metadata      json.RawMessage `json:"metadata"`
	Hash          string          `json:"hash"`
}

// verifyMirror compares the JetStream mirror with the log; a mismatch is
// printed and returned as exit status 2.
func (e *env) verifyMirror(ctx context.Context, store eventstore.Reader, head int64) error {
	nc, js, err := e.connectJetStream("")
	if err != nil {
		return err
	}
	defer nc.Close()
	tick, done := e.progress(head, "mirror")
	mrep, err := mirror.Verify(ctx, store, js, mirror.WithProgress(tick))
	done()
	if err != nil {
		return fmt.Errorf("verify mirror: %w", err)
	}
	if !mrep.OK() {
		fmt.Fprintf(e.stdout, "FAIL mirror: first bad position %d: %s\n", mrep.BadPosition, mrep.Reason)
		return failure{2}
	}
	fmt.Fprintf(e.stdout, "ok   mirror: %d events match the log", mrep.Checked)
	if mrep.Behind > 0 {
		fmt.Fprintf(e.stdout, " (%d newest not mirrored yet)", mrep.Behind)
	}
	fmt.Fprintln(e.stdout)
	return nil
}

// verifyProjections rebuilds every projection into scratch tables and
// compares them with the live ones, with one progress bar per projection.
func (e *env) verifyProjections(ctx context.Context, pool *pgxpool.Pool, store *pgstore.Store) (runner.Report, error) {
	var current string
	tick, finish := func(int64, int64) {}, func() {}
	rep, err := projections.NewManager(pool, store, nil, nil).Verify(ctx, func(name string, pos, total int64) {
		if name != current {
			finish()
			current = name
			tick, finish = e.progressTo(total, "projection "+name)
		}
		tick(pos, total)
	})
	finish()
	return rep, err
}
