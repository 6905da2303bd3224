package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/config"
	"dealcredit/internal/pgdb"
	"dealcredit/projections/runner"
)

// env is what every subcommand shares: the configuration and the streams.
type env struct {
	cfg    config.Config
	stdout io.Writer
	stderr io.Writer
}

// failure is an error whose message was already printed; it only sets the exit code.
type failure struct{ code int }

func (f failure) Error() string { return fmt.Sprintf("exit status %d", f.code) }

func exitCode(err error) int {
	var f failure
	if errors.As(err, &f) {
		return f.code
	}
	return 1
}

// run builds the command tree and executes args.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return execute(ctx, args, getenv, stdout, stderr, nil)
}

// foldCommands fold the whole log in one process.
var foldCommands = map[string]bool{"rebuild": true, "replay": true, "verify": true}

// execute is run for the real process: unless GOMEMLIMIT is set, the
// commands that fold the whole log get runner.MemoryLimit as their soft
// memory limit through setMemoryLimit (nil: leave the process alone).
func execute(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, setMemoryLimit func(int64) int64) error {
	e := &env{cfg: config.FromEnv(getenv), stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "dealcredit",
		Short:         "dealcredit: deal attribution log, OEM feed tool, audit and finance exports",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if setMemoryLimit != nil && foldCommands[cmd.Name()] && getenv("GOMEMLIMIT") == "" {
				setMemoryLimit(runner.MemoryLimit)
			}
			return e.cfg.Validate()
		},
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&e.cfg.DatabaseURL, "database-url", e.cfg.DatabaseURL, "Postgres DSN (DATABASE_URL)")
	pf.StringVar(&e.cfg.NATSURL, "nats-url", e.cfg.NATSURL, "NATS server (NATS_URL); empty = the daemon's embedded server at DEALCREDIT_EMBEDDED_NATS_ADDR")
	pf.StringVar(&e.cfg.EmbeddedNATSAddr, "embedded-nats-addr", e.cfg.EmbeddedNATSAddr, "the daemon's embedded NATS address (DEALCREDIT_EMBEDDED_NATS_ADDR)")
	pf.StringVar(&e.cfg.DataDir, "data-dir", e.cfg.DataDir, "data directory (DEALCREDIT_DATA_DIR)")
	pf.StringVar(&e.cfg.TokensFile, "tokens-file", e.cfg.TokensFile, "API tokens file (DEALCREDIT_TOKENS_FILE)")
	pf.StringVar(&e.cfg.HTTPAddr, "http-addr", e.cfg.HTTPAddr, "the daemon's HTTP address (DEALCREDIT_HTTP_ADDR)")

	root.AddCommand(
		e.migrateCmd(),
		e.verifyCmd(),
		e.tailCmd(),
		e.publishCmd(),
		e.genCmd(),
	)
	root.AddCommand(e.projectionCmds()...)
	root.AddCommand(e.demoCmd(), e.tokenCmd())
	return root.ExecuteContext(ctx)
}

// openStore connects to the database (which must exist and be migrated) and
// returns the pool, the event log on it and a function that closes both.
func (e *env) openStore(ctx context.Context) (*pgxpool.Pool, *pgstore.Store, func(), error) {
	pool, err := pgdb.OpenPool(ctx, e.cfg.DatabaseURL) // pings the server
	if err != nil {
		return nil, nil, nil, fmt.Errorf("connect to database %s: %w", config.Redact(e.cfg.DatabaseURL), err)
	}
	store, err := pgstore.New(pool, pgstore.Options{})
	if err != nil {
		pool.Close()
		return nil, nil, nil, fmt.Errorf("open event store: %w", err)
	}
	return pool, store, func() { store.Close(); pool.Close() }, nil
}

// connectJetStream connects to NATS_URL or the daemon's embedded server.
func (e *env) connectJetStream() (*nats.Conn, jetstream.JetStream, error) {
	url := e.cfg.ClientNATSURL()
	nc, err := nats.Connect(url, nats.Name("dealcredit-cli"))
	if err != nil {
		return nil, nil, fmt.Errorf("connect NATS %s (is the daemon running? set NATS_URL for an external server): %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// progress returns a progress callback that draws a bar when stderr is a
// terminal and does nothing otherwise, and a function that finishes the bar.
func (e *env) progress(total int64, what string) (func(done int64), func()) {
	tick, finish := e.progressTo(total, what)
	return func(done int64) { tick(done, 0) }, finish
}

// progressTo is progress for callers that learn the total as they go (the
// projection folds report the position they run to): tick's total, when
// above zero, replaces the bar's.
func (e *env) progressTo(total int64, what string) (func(done, total int64), func()) {
	f, ok := e.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func(int64, int64) {}, func() {}
	}
	bar := progressbar.NewOptions64(max(total, 1),
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("events"),
		progressbar.OptionThrottle(100e6),
		progressbar.OptionClearOnFinish(),
	)
	return func(done, total int64) {
			if total > 0 && total != bar.GetMax64() || done > bar.GetMax64() {
				bar.ChangeMax64(max(total, done, 1))
			}
			_ = bar.Set64(done)
		}, func() {
			_ = bar.Finish()
		}
}
