package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"dealcredit/domain"
	"dealcredit/projections"
	"dealcredit/projections/attribution"
)

func (e *env) projectionCmds() []*cobra.Command {
	return []*cobra.Command{e.replayCmd(), e.rebuildCmd(), e.exportCmd(), e.explainCmd(), e.projectionCmd()}
}

// parseAsOf reads "RFC3339-or-position".
func parseAsOf(s string) (attribution.AsOf, error) {
	if s == "" {
		return attribution.AsOf{}, errors.New("--as-of: required, an RFC 3339 time (2026-03-31T23:59:59Z) or a log position (12345)")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 1 {
			return attribution.AsOf{}, fmt.Errorf("--as-of: position must be >= 1, got %d", n)
		}
		return attribution.AsOf{Position: n}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return attribution.AsOf{}, fmt.Errorf("--as-of: %q is neither a log position nor an RFC 3339 time", s)
	}
	return attribution.AsOf{Time: t}, nil
}

func (e *env) replayCmd() *cobra.Command {
	var asOf, out string
	cmd := &cobra.Command{
		Use:   "replay --as-of RFC3339-or-position --out DIR",
		Short: "rebuild attribution, statements and revenue mix as of an instant or position into CSV files, from the log alone",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			at, err := parseAsOf(asOf)
			if err != nil {
				return err
			}
			if out == "" {
				return errors.New("--out: required, the directory for attribution.csv, statements.csv and revenue_mix.csv")
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			ctx := cmd.Context()
			pool, store, closeStore, err := e.openStore(ctx)
			if err != nil {
				return err
			}
			defer closeStore()
			tick, done := e.progress(0, "replay")
			pos, err := attribution.Replay(ctx, pool, store, at, out, func(p, _ int64) { tick(p) })
			done()
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "replayed the log up to position %d into %s (attribution.csv, statements.csv, revenue_mix.csv)\n", pos, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&asOf, "as-of", "", "RFC 3339 time (events recorded at or before it) or a log position")
	cmd.Flags().StringVar(&out, "out", "", "output directory")
	return cmd
}

func (e *env) rebuildCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rebuild PROJECTION",
		Short: "rebuild a projection from position 0 beside the live tables, then swap atomically (no downtime)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			pool, store, closeStore, err := e.openStore(ctx)
			if err != nil {
				return err
			}
			defer closeStore()
			m := projections.NewManager(pool, store, nil, nil)
			tick, done := e.progress(0, "rebuild "+args[0])
			err = m.Rebuild(ctx, args[0], func(p, _ int64) { tick(p) })
			done()
			if err != nil {
				return fmt.Errorf("rebuild %s (projections: %v): %w", args[0], m.Names(), err)
			}
			fmt.Fprintf(e.stdout, "projection %s rebuilt and swapped in\n", args[0])
			return nil
		},
	}
}

func (e *env) exportCmd() *cobra.Command {
	export := &cobra.Command{Use: "export", Short: "finance exports"}
	var quarter, format, partner string
	att := &cobra.Command{
		Use:   "attribution --quarter 2026Q1 [--format csv|json]",
		Short: "the attribution ledger of a quarter (the same bytes as GET /v1/attribution with Accept: text/csv)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := domain.ParseQuarter(quarter)
			if err != nil {
				return fmt.Errorf("--quarter: %w", err)
			}
			if format != "csv" && format != "json" {
				return fmt.Errorf("--format: %q is not csv or json", format)
			}
			ctx := cmd.Context()
			pool, _, closeStore, err := e.openStore(ctx)
			if err != nil {
				return err
			}
			defer closeStore()
			r := attribution.NewReader(pool)
			if format == "csv" {
				_, err = r.WriteLedgerCSV(ctx, e.stdout, q.String(), partner)
				return err
			}
			enc := json.NewEncoder(e.stdout)
			_, err = r.Ledger(ctx, q.String(), partner, func(l attribution.LedgerLine) error { return enc.Encode(l) })
			return err
		},
	}
	att.Flags().StringVar(&quarter, "quarter", "", "quarter, e.g. 2026Q1")
	att.Flags().StringVar(&format, "format", "csv", "csv or json (JSON lines)")
	att.Flags().StringVar(&partner, "partner", "", "only this partner's lines")
	export.AddCommand(att)
	return export
}

func (e *env) explainCmd() *cobra.Command {
	var oem, invoice string
	var line int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "explain --oem hp --invoice HP-2026-000123 --line 1",
		Short: "print the credits of an invoice line and the events and policy version behind each",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case oem == "":
				return errors.New("--oem: required")
			case invoice == "":
				return errors.New("--invoice: required")
			case line < 1:
				return errors.New("--line: required, >= 1")
			}
			ctx := cmd.Context()
			pool, _, closeStore, err := e.openStore(ctx)
			if err != nil {
				return err
			}
			defer closeStore()
			ex, err := attribution.NewReader(pool).Explain(ctx, oem, invoice, line)
			if attribution.IsNoLine(err) {
				return fmt.Errorf("no credit booked for line %d of %s invoice %s", line, oem, invoice)
			}
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(ex)
			}
			return ex.WriteText(e.stdout)
		},
	}
	cmd.Flags().StringVar(&oem, "oem", "", "OEM id")
	cmd.Flags().StringVar(&invoice, "invoice", "", "invoice number")
	cmd.Flags().IntVar(&line, "line", 0, "line number")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
