package main

import (
	"errors"
	"fmt"
	"io"
	"os"
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
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if oem == "" {
				return errors.New("--oem: required, e.g. --oem hp")
			}
			if timeout <= 0 {
				return fmt.Errorf("--timeout: want a positive duration such as 5s, got %s", timeout)
			}
			var in io.Reader = os.Stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("FILE: %w", err)
				}
				defer f.Close()
				in = f
			}
			nc, js, err := e.connectJetStream(oem)
			if err != nil {
				return err
			}
			defer nc.Close()
			var tick func(int64)
			var done func()
			rep, err := oemfeed.Publish(cmd.Context(), js, oem, in, oemfeed.PublishOptions{AckTimeout: timeout, Progress: func(n, total int) {
				if tick == nil {
					tick, done = e.progress(int64(total), "publish "+oem)
				}
				tick(int64(n))
			}})
			if done != nil {
				done()
			}
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
			fmt.Fprintf(e.stdout, "published %d lines to oem.%s.invoices: %d acknowledged (%d duplicates), %d invalid, %d failed\n",
				rep.Lines, oem, rep.Acknowledged, rep.Duplicates, len(rep.Invalid), len(rep.Failed))
			if err != nil {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&oem, "oem", "", "OEM id (the subject oem.<oem>.invoices)")
	cmd.Flags().DurationVar(&timeout, "timeout", oemfeed.DefaultAckTimeout, "how long to wait for JetStream's next acknowledgement; when none comes for that long nothing more is sent and the command fails")
	return cmd
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
					o.OEMs = append(o.OEMs, s)
				}
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
	f.Float64Var(&o.MalformedFraction, "malformed", 0, "fraction of malformed messages")
	f.Float64Var(&o.CreditMemoFraction, "credit-memos", 0, "fraction of credit memos")
	f.Float64Var(&o.RevisionFraction, "revisions", 0, "fraction of invoices with a second revision")
	f.Float64Var(&o.DuplicateFraction, "duplicates", 0, "fraction of messages sent twice")
	f.IntVar(&o.Lines, "lines", 3, "lines per document")
	f.StringVar(&start, "start", "", "first invoice date, YYYY-MM-DD (default 2026-01-01)")
	gen.AddCommand(inv, e.genLogCmd())
	return gen
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
