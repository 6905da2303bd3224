// Command dealcredit is the operator's, finance's and auditor's tool:
// migrate, publish (the OEM feed tool), gen, verify, tail, replay, rebuild,
// export, explain and demo; and finance's commands on the daemon's API:
// exceptions, statements, payouts and fx-rates.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := report(execute(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, debug.SetMemoryLimit), os.Stderr)
	stop()
	os.Exit(code)
}

// report prints err to stderr, unless it is a failure whose message the
// command already printed, and returns the process's exit status.
func report(err error, stderr io.Writer) int {
	var f failure
	switch {
	case err == nil:
		return 0
	case errors.As(err, &f):
		return f.code
	}
	fmt.Fprintln(stderr, "dealcredit:", err)
	return exitCode(err)
}
