// Package daemon is dealcreditd: the HTTP API, the OEM invoice ingest
// consumers, the outbox relay into the JetStream mirror and the projection
// runners, over one Postgres event log. cmd/dealcreditd only wires the
// process (signals, exit code) to Run; tests start it the same way.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/pflag"

	"dealcredit/api"
	"dealcredit/cmd/dealcreditd/config"
	"dealcredit/cmd/dealcreditd/dbsetup"
	"dealcredit/cmd/dealcreditd/natsauth"
	"dealcredit/cmd/dealcreditd/natsserver"
	"dealcredit/consumers/ingest"
	"dealcredit/consumers/oemwatch"
	"dealcredit/eventstore/mirror"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/jshealth"
	"dealcredit/internal/pgdb"
)

// Run is the whole daemon. args are the command-line flags (environment
// first, flags override); getenv reads the environment. It prints
// one ready line to stdout once it serves ("dealcreditd listening on
// http://ADDR", then the tokens file and the next command to try), logs
// JSON to stderr, and returns when ctx ends (after a graceful shutdown) or a
// component fails. --help prints the flags to stdout and returns nil.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (retErr error) {
	cfg := config.FromEnv(getenv)
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
	noIngest := fs.Bool("no-ingest", false, "do not run the OEM invoice consumers")
	noRelay := fs.Bool("no-relay", false, "do not run the outbox relay into the JetStream mirror")
	noProjections := fs.Bool("no-projections", false, "do not run the projection runners")
	verifyEvery := fs.Duration("verify-interval", 6*time.Hour, "how often to verify the hash chain and the JetStream mirror (0 = never); the first run is a minute after start")
	help := fs.BoolP("help", "h", false, "print this help")
	if err := fs.Parse(doubleDash(args)); err != nil {
		return fmt.Errorf("%w (dealcreditd --help lists the flags)", err)
	}
	if *help {
		usage(stdout, fs)
		return nil
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	// No password from DATABASE_URL, NATS_URL or NATS_PASSWORD is ever
	// written to the log or returned in an error.
	secrets := cfg.Secrets()
	stderr = config.NewRedactingWriter(stderr, secrets)
	defer func() { retErr = config.RedactError(retErr, secrets) }()

	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Postgres: create and migrate as the owner, serve as the app role.
	if cfg.Migrates() {
		logger.Info("database: creating it if missing and migrating", "database", config.Redact(cfg.OwnerDatabaseURL()))
	}
	pool, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if versions, err := dbsetup.Applied(ctx, pool); err == nil {
		msg := "database: migrated"
		if !cfg.Migrates() {
			msg = "database: opened (migrated by the owner)"
		}
		logger.Info(msg, "migrations", versions)
	}

	// NATS: embedded unless NATS_URL is set.
	natsURL := cfg.NATSURL
	var embedded *natsserver.Server
	if natsURL == "" {
		host, port, err := splitPort(cfg.EmbeddedNATSAddr)
		if err != nil {
			return fmt.Errorf("DEALCREDIT_EMBEDDED_NATS_ADDR: %w", err)
		}
		logger.Info("embedded JetStream: starting", "addr", cfg.EmbeddedNATSAddr, "store", cfg.DataDir)
		srv, err := natsserver.Start(ctx, natsserver.Options{
			DataDir: cfg.DataDir, CredentialsFile: cfg.EmbeddedNATSCredentialsFile(), Host: host, Port: port,
			Logger: slog.New(warnAndAbove{logger.Handler()}),
		})
		if err != nil {
			return fmt.Errorf("start embedded NATS: %w", err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				logger.Error("embedded NATS shutdown", "err", err)
			}
		}()
		embedded, natsURL = srv, srv.ClientURL()
		logger.Info("embedded JetStream: started", "url", natsURL, "credentials", srv.CredentialsFile())
	}
	natsOpts := []nats.Option{nats.Name("dealcreditd"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true)}
	if embedded != nil {
		natsOpts = append(natsOpts, nats.UserInfo(embedded.Service().User, embedded.Service().Password))
	} else {
		auth, err := natsauth.ClientOptions(cfg, "")
		if err != nil {
			return err
		}
		natsOpts = append(natsOpts, auth...)
	}
	nc, err := nats.Connect(natsURL, natsOpts...)
	if err != nil {
		return fmt.Errorf("connect NATS %s: %w", config.Redact(natsURL), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	// The fence keeps the writer from appending where the mirror already
	// holds events (a failover to a standby that lost the log's tail).
	store, err := pgstore.New(pool, pgstore.Options{Logger: logger, Registerer: reg, Fence: mirror.NewFence(js)})
	if err != nil {
		return fmt.Errorf("open event store: %w", err)
	}
	// Close flushes the appender: every append in flight commits or fails
	// before the pool closes.
	defer store.Close()

	tokens, created, err := api.LoadOrCreateTokens(cfg.TokensFile)
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	if created {
		logger.Info("generated API tokens", "path", cfg.TokensFile)
	} else {
		logger.Info("loaded API tokens", "path", cfg.TokensFile, "count", len(tokens))
	}

	// Background components, each stopped by cancelling bg.
	// The deferred stop and wait run before the deferred closes of the
	// store and pool above, also when Run returns early with an error.
	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stopBG(); wg.Wait() }()
	fail := make(chan error, 1) // the first failure stops the daemon; later ones are logged
	goRun := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(bg); err != nil && bg.Err() == nil {
				select {
				case fail <- fmt.Errorf("%s: %w", name, err):
				default:
					logger.Error("component failed", "component", name, "err", err)
				}
			}
		}()
	}

	if embedded != nil {
		goRun("jetstream store watch", func(ctx context.Context) error {
			return embedded.WatchStore(ctx, time.Second, logger.With("component", "nats-server"))
		})
	}
	usedStreams := func() []string { return nil } // the streams /readyz checks
	var relay *mirror.Relay
	if !*noRelay {
		usedStreams = func() []string { return []string{mirror.StreamName} }
		// No component key here: the relay adds "component":"relay" itself.
		relay, err = mirror.NewRelay(store, pool, js, mirror.RelayOptions{Logger: logger, Registerer: reg, Replicas: cfg.StreamReplicas})
		if err != nil {
			return fmt.Errorf("relay: %w", err)
		}
		goRun("relay", relay.Run)
	}
	if !*noIngest {
		// An OEM message is acknowledged only once its events are in the
		// mirror, whichever daemon runs the relay: an asynchronous
		// failover then loses no acknowledged invoice (recover brings it back).
		consumer, err := ingest.New(js, store, ingest.Options{Logger: logger.With("component", "ingest"), Registerer: reg,
			Replicas: cfg.StreamReplicas, StreamMaxBytes: cfg.StreamMaxBytes, Mirrored: mirror.NewWatermark(js)})
		if err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
		goRun("ingest", consumer.Run)
		relayStreams := usedStreams
		usedStreams = func() []string { return append(relayStreams(), consumer.Streams()...) }
		provision := consumer.Provision
		if embedded != nil {
			// Each enrolled OEM gets its account and user on the embedded
			// server before its stream is created.
			provision = func(ctx context.Context, oem string) error {
				if err := embedded.AddOEM(oem); err != nil {
					logger.Warn("embedded NATS: no OEM user", "oem", oem, "err", err)
				}
				return consumer.Provision(ctx, oem)
			}
		}
		goRun("oem watch", func(ctx context.Context) error {
			return oemwatch.Watch(ctx, store, serialized(pool, "oem-provision", provision), logger.With("component", "oemwatch"))
		})
	}
	if *verifyEvery > 0 {
		v, err := newVerifier(store, js, *verifyEvery, reg, logger.With("component", "verify"))
		if err != nil {
			return fmt.Errorf("verify metrics: %w", err)
		}
		goRun("verify", v.run)
	}
	queries, projChecks := startProjections(pool, store, reg, logger, !*noProjections, goRun)

	readiness := []api.Checker{
		{Name: "database", Check: func(ctx context.Context) error { return databaseWritable(ctx, pool) }},
		{Name: "log_fence", Check: func(context.Context) error { return store.Fenced() }},
		// Probed now, with a short timeout: connected, every stream in use
		// has a leader and room, and a write is acknowledged.
		{Name: "nats", Check: natsReady(embedded, jshealth.New(js, jshealth.Options{Streams: usedStreams, Replicas: cfg.StreamReplicas}))},
		{Name: "migrations", Check: func(ctx context.Context) error { return dbsetup.Check(ctx, pool) }},
	}
	// A stopped projection does not take every instance out of service
	// (docs/operations.md, "Stopped projections").
	readiness = append(readiness, projChecks...)
	handler, err := api.NewServer(api.Deps{
		Store: store, Pool: pool, Tokens: tokens, Logger: logger.With("component", "http"),
		Registerer: reg, Gatherer: reg, Readiness: readiness, Queries: queries,
	})
	if err != nil {
		return fmt.Errorf("http api: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	}
	srv := api.NewHTTPServer(cfg.HTTPAddr, handler)
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Serve(ln) }()
	logger.Info("dealcreditd ready", "http", "http://"+ln.Addr().String(), "nats", config.Redact(natsURL))
	fmt.Fprintln(stdout, readyLine(ln.Addr().String(), cfg.TokensFile))

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-fail:
		runErr = err
		logger.Error("component failed, shutting down", "err", err)
	case err := <-httpDone:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = fmt.Errorf("http: %w", err)
		}
	}

	// Graceful order: stop taking requests, stop consumers and runners
	// (in-flight batches finish), drain NATS, then the deferred closes flush
	// the appender and close the pool.
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Error("http shutdown", "err", err)
	}
	stopBG()
	wg.Wait()
	if err := nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		logger.Error("nats drain", "err", err)
	}
	logger.Info("stopped")
	return runErr
}

// natsReady is the "nats" readiness check: the disk of the embedded
// server's store (when there is one) has room, and the JetStream probe
// passes.
func natsReady(embedded *natsserver.Server, probe *jshealth.Prober) func(context.Context) error {
	return func(ctx context.Context) error {
		if embedded != nil {
			if err := embedded.StoreHealth(); err != nil {
				return err
			}
		}
		return probe.Check(ctx)
	}
}

func splitPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	var port int
	if _, err := fmt.Sscanf(p, "%d", &port); err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	if port == 0 {
		port = natsserver.RandomPort
	}
	return host, port, nil
}

// serialized runs provision under a Postgres advisory lock, so that daemon
// instances sharing a database never create the same JetStream stream at
// the same instant (concurrent CreateOrUpdateStream calls for one stream can
// leave it without a leader).
func serialized(pool *pgxpool.Pool, name string, provision oemwatch.Provisioner) oemwatch.Provisioner {
	key := pgdb.LockID(name)
	return func(ctx context.Context, oem string) error {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return fmt.Errorf("provision %s: %w", oem, err)
		}
		defer conn.Release()
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
			return fmt.Errorf("provision %s: lock: %w", oem, err)
		}
		defer func() {
			// A fresh context: the lock must be released even when ctx ended.
			uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
				conn.Conn().Close(uctx) // closing the session releases the lock
			}
		}()
		return provision(ctx, oem)
	}
}

// readinessProbeTimeout bounds one readiness probe of the database, so
// /readyz answers from what the database does now.
const readinessProbeTimeout = time.Second

// databaseWritable probes the database now: it answers and is not a
// read-only standby.
func databaseWritable(ctx context.Context, pool *pgxpool.Pool) error {
	ctx, cancel := context.WithTimeout(ctx, readinessProbeTimeout)
	defer cancel()
	var standby bool
	if err := pool.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&standby); err != nil {
		return err
	}
	if standby {
		return errors.New("the database is a read-only standby")
	}
	return nil
}
