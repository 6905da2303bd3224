package daemon

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"
)

// ReadyPrefix starts the one line the daemon prints to stdout once it
// serves; the URL follows it, then the tokens file and the next command.
const ReadyPrefix = "dealcreditd listening on "

// readyLine is the ready line for addr, e.g.
// "dealcreditd listening on http://127.0.0.1:8080 (tokens in ./data/tokens.json); next: make demo ...".
func readyLine(addr, tokensFile string) string {
	return fmt.Sprintf("%shttp://%s (tokens in %s); next: make demo in another terminal (Ctrl-C here stops the daemon)",
		ReadyPrefix, addr, tokensFile)
}

// usage prints dealcreditd --help.
func usage(w io.Writer, fs *pflag.FlagSet) {
	fmt.Fprint(w, `dealcreditd: the dealcredit daemon (HTTP API, OEM invoice ingest, JetStream mirror, projections).

Usage:
  dealcreditd [flags]

It creates and migrates its database, starts an embedded JetStream server unless --nats-url is set,
writes API tokens on first start, and prints one line once it serves. Every flag can also be set by the
environment variable named in parentheses; a flag overrides the environment.

Flags:
`)
	fmt.Fprint(w, fs.FlagUsages())
}

// doubleDash accepts the single-dash long flags of earlier versions
// (-http-addr) by rewriting them to the double-dash form (--http-addr);
// dealcreditd has no one-letter flags besides -h.
func doubleDash(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			a = "-" + a
		}
		out = append(out, a)
	}
	return out
}
