package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"dealcredit/eventstore"
	"dealcredit/eventstore/mirror"
)

func (e *env) recoverCmd() *cobra.Command {
	var fromMirror bool
	cmd := &cobra.Command{
		Use:   "recover --from-mirror",
		Short: "write back into the log the events the JetStream mirror holds beyond the log's head (lost in a failover)",
		Long: "recover --from-mirror reads the JetStream mirror DEALCREDIT_EVENTS from the log's head on, checks that\n" +
			"its events continue the log's hash chain, and appends them to the log with their original ids,\n" +
			"positions, times and hashes. A fenced daemon notices within seconds and appends again. Running it\n" +
			"again is a no-op. When the log holds other events than the mirror at a position (the database\n" +
			"appended after a failover without a fence) it writes nothing, prints the position and exits 2.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !fromMirror {
				return errors.New("recover: --from-mirror is required (the mirror is the only source recover knows)")
			}
			ctx := cmd.Context()
			_, store, closeStore, err := e.openStore(ctx)
			if err != nil {
				return err
			}
			defer closeStore()
			nc, js, err := e.connectJetStream("")
			if err != nil {
				return err
			}
			defer nc.Close()
			rep, err := mirror.Recover(ctx, store, js)
			var ce *eventstore.ChainError
			if errors.As(err, &ce) {
				fmt.Fprintf(e.stdout, "FAIL recover: position %d: %s; nothing written after position %d\n", ce.Position, ce.Reason, rep.LogHead+rep.Restored)
				return failure{2}
			}
			if err != nil {
				return err
			}
			if rep.Restored == 0 {
				fmt.Fprintf(e.stdout, "ok   nothing to recover: log head %d, mirror head %d\n", rep.LogHead, rep.MirrorHead)
				return nil
			}
			fmt.Fprintf(e.stdout, "ok   recovered positions %d to %d from the mirror (%d events); log head %d\n",
				rep.LogHead+1, rep.LogHead+rep.Restored, rep.Restored, rep.LogHead+rep.Restored)
			return nil
		},
	}
	cmd.Flags().BoolVar(&fromMirror, "from-mirror", false, "restore from the JetStream mirror DEALCREDIT_EVENTS")
	return cmd
}
