package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"dealcredit/domain"
	"dealcredit/projections"
	"dealcredit/projections/attribution"
)

func (e *env) projectionCmds() []*cobra.Command {
	return []*cobra.Command{e.replayCmd(), e.rebuildCmd(), e.exportCmd(), e.explainCmd(), e.projectionCmd()}
}

// asOfForms names what --as-of takes, for help and errors.
const asOfForms = `"now", a duration back from now (-1h, -30m), an RFC 3339 time (2026-03-31T23:59:59Z) or a log position (12345)`

// parseAsOf reads --as-of: "now", a negative duration from now, an RFC
// 3339 time or a log position. Times select by recording time.
func parseAsOf(s string, now time.Time) (attribution.AsOf, error) {
	if s == "" {
		return attribution.AsOf{}, errors.New("--as-of is required: " + asOfForms)
	}
	if s == "now" {
		return attribution.AsOf{Time: now}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 1 {
			return attribution.AsOf{}, fmt.Errorf("--as-of: position must be >= 1, got %d", n)
		}
		return attribution.AsOf{Position: n}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d > 0 {
			return attribution.AsOf{}, fmt.Errorf("--as-of: %s is in the future; a duration goes back from now, e.g. -%s", s, s)
		}
		return attribution.AsOf{Time: now.Add(d)}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return attribution.AsOf{}, fmt.Errorf("--as-of: %q is not %s", s, asOfForms)
	}
	if t.After(now) {
		// What is recorded up to a future instant is not known yet: the
		// same replay run later would give other numbers.
		return attribution.AsOf{}, fmt.Errorf("--as-of: %s is in the future (now is %s); for everything recorded so far use now",
			s, now.In(t.Location()).Truncate(time.Second).Format(time.RFC3339))
	}
	return attribution.AsOf{Time: t}, nil
}

// quarterForms names what --quarter takes, for help and errors.
const quarterForms = `YYYYQn, "current" or "previous"`

// parseQuarter reads --quarter: 2026Q1, or current / previous (today's
// quarter, UTC, and the one before).
func parseQuarter(s string, now time.Time) (domain.Quarter, error) {
	if s == "" {
		return domain.Quarter{}, errors.New("--quarter is required (" + quarterForms + ")")
	}
	q, err := domain.ResolveQuarter(s, domain.DateOf(now.UTC()))
	if err != nil {
		return domain.Quarter{}, fmt.Errorf("--quarter: %q is not %s", s, quarterForms)
	}
	return q, nil
}

func (e *env) replayCmd() *cobra.Command {
	var asOf, out string
	cmd := &cobra.Command{
		Use:   "replay --as-of now|-1h|RFC3339|POSITION --out DIR",
		Short: "rebuild attribution, statements and revenue mix as of an instant or position into CSV files, from the log alone",
		Long: "replay folds the log from position 1 up to --as-of into scratch tables and writes attribution.csv,\n" +
			"statements.csv and revenue_mix.csv into --out. --as-of selects events by the time they were RECORDED\n" +
			"in the log (or by log position), not by their business dates: an invoice dated in March but received\n" +
			"in April is in a replay as of April, not as of March 31. To read one quarter's business, use\n" +
			"export attribution --quarter (statements are by quarter too). A time in the future or a position\n" +
			"beyond the log's head is refused: what it selects is not recorded yet, so its numbers would change.",
		Example: "  dealcredit replay --as-of now --out /tmp/now\n" +
			"  dealcredit replay --as-of -1h --out /tmp/an-hour-ago\n" +
			"  dealcredit replay --as-of 2026-03-31T23:59:59Z --out /tmp/q1-as-recorded",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			at, err := parseAsOf(asOf, time.Now())
			if err != nil {
				return err
			}
			if out == "" {
				return errors.New("--out is required: the directory for attribution.csv, statements.csv and revenue_mix.csv")
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
			if at.Position > 0 {
				head, err := store.Head(ctx)
				if err != nil {
					return err
				}
				if at.Position > head {
					return fmt.Errorf("--as-of: position %d is beyond the log's head %d (for everything recorded so far use now)", at.Position, head)
				}
			}
			tick, done := e.progressTo(0, "replay")
			pos, err := attribution.Replay(ctx, pool, store, at, out, tick)
			done()
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "replayed the log up to position %d into %s (attribution.csv, statements.csv, revenue_mix.csv)\n", pos, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&asOf, "as-of", "", "events RECORDED at or before this instant, or up to this log position: "+asOfForms)
	cmd.Flags().StringVar(&out, "out", "", "output directory")
	return cmd
}

func (e *env) rebuildCmd() *cobra.Command {
	var names []string
	for _, p := range projections.All() {
		names = append(names, p.Name())
	}
	valid := strings.Join(names, ", ")
	return &cobra.Command{
		Use:       "rebuild PROJECTION",
		Short:     "rebuild a projection from position 0 beside the live tables, then swap atomically (no downtime)",
		Long:      "rebuild folds the whole log into new tables beside the live ones while the daemon keeps serving, then\nswaps them in in one transaction. PROJECTION is one of: " + valid + ".",
		Example:   "  dealcredit rebuild attribution",
		ValidArgs: names,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 || !slices.Contains(names, args[0]) {
				return fmt.Errorf("rebuild: name one projection: %s", valid)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			pool, store, closeStore, err := e.openStore(ctx)
			if err != nil {
				return err
			}
			defer closeStore()
			m := projections.NewManager(pool, store, nil, nil)
			tick, done := e.progressTo(0, "rebuild "+args[0])
			err = m.Rebuild(ctx, args[0], tick)
			done()
			if err != nil {
				return fmt.Errorf("rebuild %s: %w", args[0], err)
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
		Use:   "attribution --quarter 2026Q1|current|previous [--format csv|json]",
		Short: "the attribution ledger of a quarter (the same bytes as GET /v1/attribution with Accept: text/csv)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := parseQuarter(quarter, time.Now())
			if err != nil {
				return err
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
	att.Flags().StringVar(&quarter, "quarter", "", "the quarter: "+quarterForms+" (today's quarter, UTC, or the one before)")
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
		Short: "print the credits of an invoice line with their arithmetic and the events and policy version behind each",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case oem == "":
				return errors.New("--oem is required (the OEM's partner id, e.g. hp)")
			case invoice == "":
				return errors.New("--invoice is required (the invoice number, e.g. HP-2026-000123)")
			case line < 1:
				return errors.New("--line is required (the invoice line number, 1 or more)")
			}
			ctx := cmd.Context()
			pool, _, closeStore, err := e.openStore(ctx)
			if err != nil {
				return err
			}
			defer closeStore()
			ex, err := attribution.NewReader(pool).Explain(ctx, oem, invoice, line)
			if attribution.IsNoLine(err) {
				return fmt.Errorf("no credit booked for line %d of %s invoice %s (is the invoice ingested? the demo's last lines name its invoices)", line, oem, invoice)
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
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (fields: docs/read-models.md, Explain)")
	return cmd
}
