package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"dealcredit/projections"
	"dealcredit/projections/runner"
)

// projectionCmd is `dealcredit projection status|skip`: what an operator
// needs when a projection stopped at an event it cannot apply.
func (e *env) projectionCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "projection", Short: "projection status, and the audited way past an event a projection cannot apply"}
	cmd.AddCommand(e.projectionStatusCmd(), e.projectionSkipCmd())
	return cmd
}

func (e *env) projectionStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [--json]",
		Short: "each projection's checkpoint, the log head, and the event a stopped projection is stuck at",
		Args:  cobra.NoArgs,
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
			type row struct {
				runner.Checkpoint
				Head int64 `json:"head"`
				Lag  int64 `json:"lag_events"`
			}
			var rows []row
			stopped := false
			for _, p := range projections.All() {
				cp, err := runner.ReadCheckpoint(ctx, pool, p.Name())
				if err != nil {
					return err
				}
				rows = append(rows, row{cp, head, max(head-cp.Position, 0)})
				stopped = stopped || cp.Status == runner.StateFailed
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rows); err != nil {
					return err
				}
			} else {
				for _, r := range rows {
					if r.Status == runner.StateFailed {
						fmt.Fprintf(e.stdout, "%-12s STOPPED at position %d (%s, event %s), checkpoint %d, head %d, %d events behind: %s\n",
							r.Name, r.FailedPosition, r.FailedType, r.FailedEventID, r.Position, r.Head, r.Lag, r.Error)
						continue
					}
					fmt.Fprintf(e.stdout, "%-12s %s at %d, head %d, %d events behind\n", r.Name, r.Status, r.Position, r.Head, r.Lag)
				}
			}
			if stopped {
				return failure{code: 2}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (e *env) projectionSkipCmd() *cobra.Command {
	var req projections.SkipRequest
	cmd := &cobra.Command{
		Use:   "skip --projection NAME --position N --reason TEXT --actor WHO",
		Short: "record in the log (audited) that a stopped projection passes over the event it stopped at",
		Long: `skip appends a projection.event_skipped fact (projection, position, event id and type,
reason, actor) to the log. The projection must be stopped at exactly that position
(see "dealcredit projection status"). Its runners then leave the event out and go on;
rebuild, replay and verify --projections leave it out too, so they keep agreeing.
The event stays in the log unchanged; the fact is in the log and its mirror for auditors.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case req.Projection == "":
				return errors.New("--projection: required, e.g. attribution")
			case req.Position < 1:
				return errors.New("--position: required, the position the projection is stopped at (dealcredit projection status)")
			case req.Reason == "":
				return errors.New("--reason: required, why the event may be left out (it is recorded for auditors)")
			case req.Actor == "":
				return errors.New("--actor: required, who decides (it is recorded for auditors)")
			}
			req.Source = "cli"
			ctx := cmd.Context()
			pool, store, closeStore, err := e.openStore(ctx)
			if err != nil {
				return err
			}
			defer closeStore()
			rec, err := projections.Skip(ctx, pool, store, req, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "recorded at position %d: projection %s skips the event at position %d; its runners go on within a second\n",
				rec.Position, req.Projection, req.Position)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Projection, "projection", "", "projection name (attribution, leads)")
	f.Int64Var(&req.Position, "position", 0, "log position of the event the projection is stopped at")
	f.StringVar(&req.Reason, "reason", "", "why the event may be left out")
	f.StringVar(&req.Actor, "actor", "", "who decides, e.g. an operator's name or ticket")
	return cmd
}
