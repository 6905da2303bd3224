// Command dealcredit is the operator's, finance's and auditor's tool:
// migrate, publish (the OEM feed tool), gen, verify, tail, replay, rebuild,
// export, explain and demo; and finance's commands on the daemon's API:
// exceptions, statements, payouts and fx-rates.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := execute(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, debug.SetMemoryLimit); err != nil {
		fmt.Fprintln(os.Stderr, "dealcredit:", err)
		os.Exit(exitCode(err))
	}
}
