package daemon

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"dealcredit/cmd/dealcreditd/config"
	"dealcredit/cmd/dealcreditd/scheduler"
)

// options are the flags that choose which components run; the rest of the
// flags set fields of config.Config.
type options struct {
	noIngest, noRelay, noProjections, noScheduler bool
	verifyEvery, scheduleEvery                    time.Duration
	help                                          bool
}

// parseFlags reads the configuration from the environment (getenv), lets
// args override it and validates it. With --help it prints the flags to
// stdout and returns options with help set.
func parseFlags(args []string, getenv func(string) string, stdout, stderr io.Writer) (config.Config, options, error) {
	cfg := config.FromEnv(getenv)
	var opts options
	fs := pflag.NewFlagSet("dealcreditd", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.DatabaseURL, "database-url", cfg.DatabaseURL, "Postgres DSN (DATABASE_URL); without a migration DSN it migrates and the daemon serves as "+config.AppRole)
	fs.StringVar(&cfg.MigrationDatabaseURL, "migration-database-url", cfg.MigrationDatabaseURL, "the owner role's Postgres DSN that creates and migrates the database; DATABASE_URL then serves as given (DATABASE_MIGRATION_URL)")
	fs.StringVar(&cfg.NATSURL, "nats-url", cfg.NATSURL, "external NATS server; empty starts an embedded JetStream server (NATS_URL)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "embedded JetStream store and generated tokens (DEALCREDIT_DATA_DIR)")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", cfg.HTTPAddr, "HTTP API, /metrics, /healthz, /readyz (DEALCREDIT_HTTP_ADDR)")
	fs.StringVar(&cfg.TokensFile, "tokens-file", cfg.TokensFile, "API tokens file (DEALCREDIT_TOKENS_FILE)")
	fs.StringVar(&cfg.EmbeddedNATSAddr, "embedded-nats-addr", cfg.EmbeddedNATSAddr, "listen address of the embedded NATS server (DEALCREDIT_EMBEDDED_NATS_ADDR)")
	fs.IntVar(&cfg.StreamReplicas, "stream-replicas", cfg.StreamReplicas, "JetStream replicas of the streams the daemon creates (DEALCREDIT_STREAM_REPLICAS)")
	fs.Func("stream-max-bytes", "size limit of each OEM invoice stream and of the dead-letter stream, e.g. 256MiB (DEALCREDIT_STREAM_MAX_BYTES)", func(v string) (err error) {
		cfg.StreamMaxBytes, err = config.ParseBytes(v)
		return err
	})
	fs.StringVar(&cfg.NATSUser, "nats-user", cfg.NATSUser, "NATS user for NATS_URL, with the password in NATS_PASSWORD (NATS_USER)")
	fs.StringVar(&cfg.NATSCreds, "nats-creds", cfg.NATSCreds, "NATS .creds file for NATS_URL (NATS_CREDS)")
	// -h shows the environment's values as defaults: without passwords.
	for _, name := range []string{"database-url", "migration-database-url", "nats-url"} {
		fs.Lookup(name).DefValue = config.Redact(fs.Lookup(name).DefValue)
	}
	fs.BoolVar(&opts.noIngest, "no-ingest", false, "do not run the OEM invoice consumers")
	fs.BoolVar(&opts.noRelay, "no-relay", false, "do not run the outbox relay into the JetStream mirror")
	fs.BoolVar(&opts.noProjections, "no-projections", false, "do not run the projection runners")
	fs.BoolVar(&opts.noScheduler, "no-scheduler", false, "do not append scheduled facts (deal expiry, lapsed lead and seat offers)")
	fs.DurationVar(&opts.scheduleEvery, "schedule-interval", scheduler.DefaultInterval, "how often the scheduler looks for due facts (a lead offer lapses at most this long after its deadline)")
	fs.DurationVar(&opts.verifyEvery, "verify-interval", 6*time.Hour, "how often to verify the hash chain and the JetStream mirror (0 = never); the first run is a minute after start")
	fs.BoolVarP(&opts.help, "help", "h", false, "print this help")
	if err := fs.Parse(doubleDash(args)); err != nil {
		return cfg, opts, fmt.Errorf("%w (dealcreditd --help lists the flags)", err)
	}
	if opts.help {
		usage(stdout, fs)
		return cfg, opts, nil
	}
	if opts.scheduleEvery < scheduler.MinInterval || opts.scheduleEvery > scheduler.MaxInterval {
		return cfg, opts, fmt.Errorf("--schedule-interval %s: must be %s to %s (dealcreditd --help lists the flags)",
			opts.scheduleEvery, scheduler.MinInterval, scheduler.MaxInterval)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, opts, fmt.Errorf("configuration: %w", err)
	}
	return cfg, opts, nil
}
