package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"dealcredit/cmd/dealcreditd/config"
	"dealcredit/cmd/dealcreditd/natsauth"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/pgdb"
	"dealcredit/projections/runner"
)

// env is what every subcommand shares: the configuration and the streams.
type env struct {
	cfg    config.Config
	getenv func(string) string
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
	e := &env{cfg: config.FromEnv(getenv), getenv: getenv, stdout: stdout, stderr: stderr}
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
	pf.StringVar(&e.cfg.DatabaseURL, "database-url", e.cfg.DatabaseURL, "Postgres DSN (DATABASE_URL); without a migration DSN it migrates and the other commands connect as "+config.AppRole)
	pf.StringVar(&e.cfg.MigrationDatabaseURL, "migration-database-url", e.cfg.MigrationDatabaseURL, "the owner role's Postgres DSN for migrate; DATABASE_URL is then used as given (DATABASE_MIGRATION_URL)")
	pf.StringVar(&e.cfg.NATSURL, "nats-url", e.cfg.NATSURL, "NATS server (NATS_URL); empty = the daemon's embedded server at DEALCREDIT_EMBEDDED_NATS_ADDR")
	pf.StringVar(&e.cfg.EmbeddedNATSAddr, "embedded-nats-addr", e.cfg.EmbeddedNATSAddr, "the daemon's embedded NATS address (DEALCREDIT_EMBEDDED_NATS_ADDR)")
	pf.StringVar(&e.cfg.DataDir, "data-dir", e.cfg.DataDir, "data directory (DEALCREDIT_DATA_DIR)")
	pf.StringVar(&e.cfg.TokensFile, "tokens-file", e.cfg.TokensFile, "API tokens file (DEALCREDIT_TOKENS_FILE)")
	pf.StringVar(&e.cfg.HTTPAddr, "http-addr", e.cfg.HTTPAddr, "the daemon's HTTP address (DEALCREDIT_HTTP_ADDR)")
	pf.StringVar(&e.cfg.NATSUser, "nats-user", e.cfg.NATSUser, "NATS user for NATS_URL, with the password in NATS_PASSWORD (NATS_USER); default: user:password in NATS_URL, or the embedded server's generated credentials in the data directory")
	pf.StringVar(&e.cfg.NATSCreds, "nats-creds", e.cfg.NATSCreds, "NATS .creds file for NATS_URL (NATS_CREDS)")

	// The help shows the environment's values as defaults: without passwords.
	for _, name := range []string{"database-url", "migration-database-url", "nats-url"} {
		pf.Lookup(name).DefValue = config.Redact(pf.Lookup(name).DefValue)
	}

	root.AddCommand(
		e.migrateCmd(),
		e.verifyCmd(),
		e.recoverCmd(),
		e.tailCmd(),
		e.publishCmd(),
		e.genCmd(),
	)
	root.AddCommand(e.projectionCmds()...)
	root.AddCommand(e.demoCmd(), e.tokenCmd(), e.importCmd())
	root.AddCommand(e.exceptionsCmd(), e.statementsCmd(), e.payoutsCmd(), e.fxRatesCmd())
	requireSubcommands(root)
	// No password from DATABASE_URL, NATS_URL or NATS_PASSWORD in an error.
	return config.RedactError(root.ExecuteContext(ctx), e.cfg.Secrets())
}

// requireSubcommands makes each group below root (export, gen, projection,
// ...) fail, naming its commands, when called without one or with an
// unknown one: cobra would print the group's help and exit 0, so a
// mistyped `export atribution` in a script looked like a success.
func requireSubcommands(root *cobra.Command) {
	for _, c := range root.Commands() {
		requireSubcommands(c)
		if !c.HasSubCommands() || c.Runnable() {
			continue
		}
		// An unknown command's flags are not the group's: name the command.
		c.FParseErrWhitelist.UnknownFlags = true
		c.RunE = func(cmd *cobra.Command, args []string) error {
			var names []string
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() && sub.Name() != "help" {
					names = append(names, sub.Name())
				}
			}
			if len(args) == 0 {
				return fmt.Errorf("%s: name a command: %s", strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" "), strings.Join(names, ", "))
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if cmd.SuggestionsMinimumDistance <= 0 {
				cmd.SuggestionsMinimumDistance = 2 // cobra's default, set by root only
			}
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return fmt.Errorf("%s (commands: %s)", msg, strings.Join(names, ", "))
		}
	}
}

// invalidCatalogName is Postgres's SQLSTATE for a database that does not exist.
const invalidCatalogName = "3D000"

// openStore connects to the database (which must exist and be migrated) as
// the daemon does (config.AppDatabaseURL: read models rebuilt here stay the
// app role's) and returns the pool, the event log on it and a function that
// closes both.
func (e *env) openStore(ctx context.Context) (*pgxpool.Pool, *pgstore.Store, func(), error) {
	dsn := e.cfg.AppDatabaseURL()
	pool, err := pgdb.OpenPool(ctx, dsn) // pings the server
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == invalidCatalogName {
		return nil, nil, nil, fmt.Errorf("database %s does not exist: is DATABASE_URL the daemon's database? "+
			"(the daemon creates its database at its first start; dealcredit migrate creates it too)", config.Redact(dsn))
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("connect to database %s: %w", config.Redact(dsn), err)
	}
	var migrated bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('events') IS NOT NULL`).Scan(&migrated); err != nil {
		pool.Close()
		return nil, nil, nil, fmt.Errorf("database %s: %w", config.Redact(dsn), err)
	}
	if !migrated {
		pool.Close()
		return nil, nil, nil, fmt.Errorf("database %s has no dealcredit tables: is DATABASE_URL the daemon's database? "+
			"(the daemon migrates its database at start; dealcredit migrate does too)", config.Redact(dsn))
	}
	store, err := pgstore.New(pool, pgstore.Options{})
	if err != nil {
		pool.Close()
		return nil, nil, nil, fmt.Errorf("open event store: %w", err)
	}
	return pool, store, func() { store.Close(); pool.Close() }, nil
}

// connectJetStream connects to NATS_URL or the daemon's embedded server
// (see natsauth.ClientOptions for the credentials; asOEM picks that OEM's
// user of the embedded server when it has one).
func (e *env) connectJetStream(asOEM string) (*nats.Conn, jetstream.JetStream, error) {
	url := e.cfg.ClientNATSURL()
	opts, err := natsauth.ClientOptions(e.cfg, asOEM)
	if err != nil {
		return nil, nil, err
	}
	nc, err := nats.Connect(url, append(opts, nats.Name("dealcredit-cli"))...)
	switch {
	case errors.Is(err, nats.ErrAuthorization) && e.cfg.NATSURL == "" && e.cfg.NATSUser == "" && e.cfg.NATSCreds == "":
		return nil, nil, fmt.Errorf("connect NATS %s: the server refused the credentials in %s (another daemon's data directory? DEALCREDIT_DATA_DIR must be this daemon's): %w",
			config.Redact(url), e.cfg.EmbeddedNATSCredentialsFile(), err)
	case errors.Is(err, nats.ErrAuthorization):
		return nil, nil, fmt.Errorf("connect NATS %s: the server refused the credentials (NATS_URL's user:password, NATS_USER and NATS_PASSWORD, or NATS_CREDS): %w",
			config.Redact(url), err)
	case err != nil:
		return nil, nil, fmt.Errorf("connect NATS %s (is the daemon running? set NATS_URL for an external server): %w", config.Redact(url), err)
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
