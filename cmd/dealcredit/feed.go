package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"dealcredit/consumers/oemfeed"
	"dealcredit/internal/genlog"
)

func (e *env) publishCmd() *cobra.Command {
	var oem string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "publish --oem OEM FILE.jsonl",
		Short: "publish invoices to JetStream as an OEM feed would (one JSON message per line, Nats-Msg-Id set)",
		Long: "publish reads FILE (- for stdin) whole, then publishes each non-empty line to oem.<OEM>.invoices.\n" +
			"A file it cannot read (a line over 1 MiB) publishes nothing. A line that is not a valid invoice is\n" +
			"published anyway with a warning naming the line: the daemon dead-letters it with the same reason.\n" +
			"When JetStream does not acknowledge some lines, publish names them and exits 1; publishing the\n" +
			"file again is safe (duplicates are absorbed).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOEM("--oem", oem); err != nil {
				return err
			}
			if timeout <= 0 {
				return fmt.Errorf("--timeout: want a positive duration such as 5s, got %s", timeout)
			}
			feed, err := readFeed(args[0])
			if err != nil {
				return err
			}
			nc, js, err := e.connectJetStream(oem)
			if err != nil {
				return fmt.Errorf("%w; nothing was published", err)
			}
			defer nc.Close()
			var tick func(int64)
			var done func()
			rep, err := oemfeed.PublishFeed(cmd.Context(), js, oem, feed, oemfeed.PublishOptions{AckTimeout: timeout, Progress: func(n, total int) {
				if tick == nil {
					tick, done = e.progress(int64(total), "publish "+oem)
				}
				tick(int64(n))
			}})
			if done != nil {
				done()
			}
			e.printPublishReport(oem, rep)
			return err
		},
	}
	cmd.Flags().StringVar(&oem, "oem", "", "OEM id (the subject oem.<oem>.invoices)")
	cmd.Flags().DurationVar(&timeout, "timeout", oemfeed.DefaultAckTimeout, "how long to wait for JetStream's next acknowledgement; when none comes for that long nothing more is sent and the command fails")
	return cmd
}

// oemIDForm says what an OEM id is, for errors.
const oemIDForm = "lower case letters, digits, '_' and '-', at most 32 characters"

// checkOEM refuses an OEM id that cannot name a subject and a stream.
func checkOEM(flag, oem string) error {
	switch {
	case oem == "":
		return fmt.Errorf("%s: required, e.g. %s hp", flag, flag)
	case !oemfeed.ValidOEMID(oem):
		return fmt.Errorf("%s: %q is not an OEM id (%s)", flag, oem, oemIDForm)
	}
	return nil
}

// readFeed reads the feed file (- for stdin) whole, before anything is
// sent: a file that cannot be read, or holds no line, publishes nothing.
func readFeed(path string) (*oemfeed.Feed, error) {
	var in io.Reader = os.Stdin
	name := "stdin"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("FILE: %w", err)
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return nil, fmt.Errorf("FILE: %s is a directory, not a JSON lines file", path)
		}
		in, name = f, path
	}
	feed, err := oemfeed.ReadFeed(in)
	if err != nil {
		return nil, fmt.Errorf("FILE: %s: %w; nothing was published", name, err)
	}
	if feed.Len() == 0 {
		return nil, fmt.Errorf("FILE: %s has no lines to publish; nothing was published", name)
	}
	return feed, nil
}

// printPublishReport prints the invalid lines (published anyway), the
// lines JetStream did not acknowledge, all of them as line ranges, and the
// counts.
func (e *env) printPublishReport(oem string, rep oemfeed.Report) {
	for _, l := range rep.Invalid {
		fmt.Fprintf(e.stderr, "warning: %v (published anyway; the daemon will dead-letter it)\n", l)
	}
	const shown = 10
	for i, l := range rep.Failed {
		if i == shown {
			fmt.Fprintf(e.stderr, "error: ... and %d more lines not acknowledged\n", len(rep.Failed)-shown)
			break
		}
		fmt.Fprintf(e.stderr, "error: %v\n", l)
	}
	if len(rep.Failed) > 0 {
		fmt.Fprintf(e.stderr, "not acknowledged: lines %s (they may or may not be stored; publishing the file again is safe, duplicates are absorbed)\n", lineRanges(rep.Failed))
	}
	fmt.Fprintf(e.stdout, "published %d lines to oem.%s.invoices: %d acknowledged (%d duplicates), %d invalid, %d failed\n",
		rep.Lines, oem, rep.Acknowledged, rep.Duplicates, len(rep.Invalid), len(rep.Failed))
}

// lineRanges renders the line numbers of errs (ascending) as "1-3, 7, 9-12".
func lineRanges(errs []oemfeed.LineError) string {
	errs = slices.SortedFunc(slices.Values(errs), func(a, b oemfeed.LineError) int { return a.Line - b.Line })
	var b strings.Builder
	for i := 0; i < len(errs); {
		j := i
		for j+1 < len(errs) && errs[j+1].Line == errs[j].Line+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(errs[i].Line))
		if j > i {
			b.WriteString("-" + strconv.Itoa(errs[j].Line))
		}
		i = j + 1
	}
	return b.String()
}

func (e *env) genCmd() *cobra.Command {
	gen := &cobra.Command{Use: "gen", Short: "generate test data"}
	var o oemfeed.GenOptions
	var oems, start string
	inv := &cobra.Command{
		Use:   "invoices",
		Short: "write a seeded, realistic OEM invoice feed as JSON lines to stdout",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, s := range strings.Split(oems, ",") {
				if s = strings.TrimSpace(s); s != "" {
					if err := checkOEM("--oems", s); err != nil {
						return err
					}
					o.OEMs = append(o.OEMs, s)
				}
			}
			if len(o.OEMs) == 0 {
				return fmt.Errorf("--oems: name at least one OEM id, e.g. hp,dell")
			}
			if err := checkGenOptions(o); err != nil {
				return err
			}
			if start != "" {
				t, err := time.Parse("2006-01-02", start)
				if err != nil {
					return fmt.Errorf("--start: want YYYY-MM-DD: %w", err)
				}
				o.Start = t
			}
			return oemfeed.Generate(e.stdout, o)
		},
	}
	f := inv.Flags()
	f.Uint64Var(&o.Seed, "seed", 1, "random seed (same options, same bytes)")
	f.IntVar(&o.Invoices, "invoices", 100, "number of invoices and credit memos")
	f.StringVar(&oems, "oems", "hp", "comma-separated OEM ids")
	f.IntVar(&o.Customers, "customers", 50, "customer pool size")
	f.Float64Var(&o.MalformedFraction, "malformed", 0, "fraction of malformed messages, 0 to 1")
	f.Float64Var(&o.CreditMemoFraction, "credit-memos", 0, "fraction of credit memos, 0 to 1")
	f.Float64Var(&o.RevisionFraction, "revisions", 0, "fraction of invoices with a second revision, 0 to 1")
	f.Float64Var(&o.DuplicateFraction, "duplicates", 0, "fraction of messages sent twice, 0 to 1")
	f.IntVar(&o.Lines, "lines", 3, "lines per document")
	f.StringVar(&start, "start", "", "first invoice date, YYYY-MM-DD (default 2026-01-01)")
	gen.AddCommand(inv, e.genLogCmd())
	return gen
}

// checkGenOptions refuses counts below one and fractions outside 0..1,
// naming the flag (the generator would otherwise take them as defaults or
// as certainties).
func checkGenOptions(o oemfeed.GenOptions) error {
	for _, c := range []struct {
		flag string
		n    int
	}{{"--invoices", o.Invoices}, {"--lines", o.Lines}, {"--customers", o.Customers}} {
		if c.n < 1 {
			return fmt.Errorf("%s: want 1 or more, got %d", c.flag, c.n)
		}
	}
	for _, f := range []struct {
		flag string
		v    float64
	}{{"--malformed", o.MalformedFraction}, {"--credit-memos", o.CreditMemoFraction}, {"--revisions", o.RevisionFraction}, {"--duplicates", o.DuplicateFraction}} {
		if !(f.v >= 0 && f.v <= 1) { // NaN too
			return fmt.Errorf("%s: want a fraction from 0 to 1, got %v", f.flag, f.v)
		}
	}
	return nil
}

func (e *env) genLogCmd() *cobra.Command {
	var n int
	cmd := &cobra.Command{
		Use:   "log --events N",
		Short: "append a generated partner-program log (the rebuild benchmark's mix, see docs/benchmarks.md) to the event log",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n <= 0 {
				return fmt.Errorf("--events: want a positive number of events, got %d", n)
			}
			ctx := cmd.Context()
			_, store, closeStore, err := e.openStore(ctx)
			if err != nil {
				return err
			}
			defer closeStore()
			tick, done := e.progress(int64(n), "gen log")
			head, err := genlog.Append(ctx, store, n, 200, func(k int) { tick(int64(k)) })
			done()
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "appended a generated log of %d events; the log's head is now %d\n", n, head)
			return nil
		},
	}
	cmd.Flags().IntVar(&n, "events", 100000, "number of events (about 2.5 ledger lines each)")
	return cmd
}
