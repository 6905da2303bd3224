// Command dealcreditd is the dealcredit daemon: the HTTP API, the OEM invoice
// ingest consumers, the outbox relay into the JetStream mirror and the
// projection runners, over one Postgres event log.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"dealcredit/cmd/dealcreditd/daemon"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, stop() restores the default handlers: a second
	// signal ends the process at once.
	go func() { <-ctx.Done(); stop() }()
	if err := daemon.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "dealcreditd:", err)
		os.Exit(1)
	}
}
