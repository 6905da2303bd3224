package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"dealcredit/cmd/dealcredit/demo"
)

// demoCmd plays the interview's story against a running daemon (make run).
func (e *env) demoCmd() *cobra.Command {
	var runID string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "the interview's story end to end against a running daemon (make run, then make demo)",
		Long: "demo enrolls partners, sets seats and policy, registers and approves a deal, publishes HP and Dell\n" +
			"invoices on JetStream, hands HP's service side to the VAR, closes the previous quarter, sends a late\n" +
			"credit memo, reads the revenue mix, then verifies the log and its mirror and replays it. It talks to\n" +
			"the daemon at DEALCREDIT_HTTP_ADDR with the tokens in DEALCREDIT_TOKENS_FILE, publishes to NATS_URL\n" +
			"(or the daemon's embedded server) and reads DATABASE_URL for the auditor's steps.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tokens, err := demo.LoadTokens(e.cfg.TokensFile)
			if err != nil {
				return err
			}
			nc, js, err := e.connectJetStream("")
			if err != nil {
				return err
			}
			defer nc.Close()
			_, err = demo.Run(cmd.Context(), demo.Options{
				BaseURL: "http://" + e.cfg.HTTPAddr, Tokens: tokens, JetStream: js,
				DatabaseURL: e.cfg.DatabaseURL, RunID: runID, Wait: wait, Command: invokedAs(os.Args[0]),
			}, e.stdout)
			var ue *url.Error
			var op *net.OpError
			if errors.As(err, &ue) && errors.As(ue.Err, &op) && op.Op == "dial" {
				return fmt.Errorf("%w (is the daemon running at http://%s? set DEALCREDIT_HTTP_ADDR)", err, e.cfg.HTTPAddr)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&runID, "run-id", "", "suffix of the demo's ids (default: derived from the clock, so runs do not collide)")
	cmd.Flags().DurationVar(&wait, "wait", 30*time.Second, "how long to wait for each invoice to be ingested")
	return cmd
}

// invokedAs is how the reader ran this command, for the commands the demo
// suggests: as typed (bin/dealcredit, dealcredit from PATH), or the go run
// form when go run built it into a temporary directory.
func invokedAs(arg0 string) string {
	if strings.Contains(arg0, "go-build") {
		return "go run ./cmd/dealcredit"
	}
	return arg0
}
