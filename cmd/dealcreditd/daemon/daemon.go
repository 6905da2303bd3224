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
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

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
	cfg, opts, err := parseFlags(args, getenv, stdout, stderr)
	if err != nil || opts.help {
		return err
	}
	// No password from DATABASE_URL, NATS_URL or NATS_PASSWORD is ever
	// written to the log or returned in an error.
	secrets := cfg.Secrets()
	stderr = config.NewRedactingWriter(stderr, secrets)
	defer func() { retErr = config.RedactError(retErr, secrets) }()

	d := newDaemon(ctx, cfg, opts, stdout, stderr)
	defer d.close()
	for _, start := range []func(context.Context) error{
		d.openDatabase,
		d.startNATS,
		d.openStore,
		d.loadTokens,
		d.watchEmbeddedNATS,
		d.startRelay,
		d.startConsumers,
		d.startVerifier,
		d.startRunners,
		d.serveHTTP,
	} {
		if err := start(ctx); err != nil {
			return err
		}
	}
	// Graceful order: stop taking requests, stop consumers and runners
	// (in-flight batches finish), drain NATS, then close flushes the
	// appender and closes the pool.
	runErr := d.run.wait()
	if err := d.nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		d.logger.Error("nats drain", "err", err)
	}
	d.logger.Info("stopped")
	return runErr
}

// daemon is what Run opens and starts, in order.
type daemon struct {
	cfg     config.Config
	opts    options
	stdout  io.Writer // the ready line
	logger  *slog.Logger
	reg     *prometheus.Registry
	run     *components
	closers []func() // closed in reverse order, after the components stopped

	pool        *pgxpool.Pool
	embedded    *natsserver.Server // nil with an external NATS_URL
	natsURL     string
	nc          *nats.Conn
	js          jetstream.JetStream
	store       *pgstore.Store
	tokens      api.Tokens
	usedStreams func() []string // the streams /readyz checks
	queries     api.Queries
	projChecks  []api.Checker
}

func newDaemon(ctx context.Context, cfg config.Config, opts options, stdout, stderr io.Writer) *daemon {
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &daemon{cfg: cfg, opts: opts, stdout: stdout, logger: logger, reg: reg, run: newComponents(ctx, logger),
		usedStreams: func() []string { return nil }}
}

// close stops the components (also when Run returns early with an error),
// then closes what was opened, newest first.
func (d *daemon) close() {
	_ = d.run.stop() // Run returns the failure; here the components only have to end
	for _, c := range slices.Backward(d.closers) {
		c()
	}
}

// openDatabase creates and migrates the database as the owner and opens the
// pool as the app role.
func (d *daemon) openDatabase(ctx context.Context) error {
	if d.cfg.Migrates() {
		d.logger.Info("database: creating it if missing and migrating", "database", config.Redact(d.cfg.OwnerDatabaseURL()))
	}
	pool, err := migrateAndOpen(ctx, d.cfg)
	if err != nil {
		return err
	}
	d.pool = pool
	d.closers = append(d.closers, pool.Close)
	if versions, err := dbsetup.Applied(ctx, pool); err == nil {
		msg := "database: migrated"
		if !d.cfg.Migrates() {
			msg = "database: opened (migrated by the owner)"
		}
		d.logger.Info(msg, "migrations", versions)
	}
	return nil
}

// startNATS starts the embedded JetStream server unless NATS_URL is set,
// and connects to it or to NATS_URL.
func (d *daemon) startNATS(ctx context.Context) error {
	d.natsURL = d.cfg.NATSURL
	if d.natsURL == "" {
		if err := d.startEmbeddedNATS(ctx); err != nil {
			return err
		}
	}
	natsOpts := []nats.Option{nats.Name("dealcreditd"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true)}
	if d.embedded != nil {
		natsOpts = append(natsOpts, nats.UserInfo(d.embedded.Service().User, d.embedded.Service().Password))
	} else {
		auth, err := natsauth.ClientOptions(d.cfg, "")
		if err != nil {
			return err
		}
		natsOpts = append(natsOpts, auth...)
	}
	nc, err := nats.Connect(d.natsURL, natsOpts...)
	if err != nil {
		return fmt.Errorf("connect NATS %s: %w", config.Redact(d.natsURL), err)
	}
	d.nc = nc
	d.closers = append(d.closers, nc.Close)
	if d.js, err = jetstream.New(nc); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	return nil
}

func (d *daemon) startEmbeddedNATS(ctx context.Context) error {
	host, port, err := splitPort(d.cfg.EmbeddedNATSAddr)
	if err != nil {
		return fmt.Errorf("DEALCREDIT_EMBEDDED_NATS_ADDR: %w", err)
	}
	d.logger.Info("embedded JetStream: starting", "addr", d.cfg.EmbeddedNATSAddr, "store", d.cfg.DataDir)
	srv, err := natsserver.Start(ctx, natsserver.Options{
		DataDir: d.cfg.DataDir, CredentialsFile: d.cfg.EmbeddedNATSCredentialsFile(), Host: host, Port: port,
		Logger: slog.New(warnAndAbove{d.logger.Handler()}),
	})
	if err != nil {
		return fmt.Errorf("start embedded NATS: %w", err)
	}
	d.closers = append(d.closers, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			d.logger.Error("embedded NATS shutdown", "err", err)
		}
	})
	d.embedded, d.natsURL = srv, srv.ClientURL()
	d.logger.Info("embedded JetStream: started", "url", d.natsURL, "credentials", srv.CredentialsFile())
	return nil
}

// openStore opens the event store. The fence keeps the writer from
// appending where the mirror already holds events (a failover to a standby
// that lost the log's tail).
func (d *daemon) openStore(context.Context) error {
	store, err := pgstore.New(d.pool, pgstore.Options{Logger: d.logger, Registerer: d.reg, Fence: mirror.NewFence(d.js)})
	if err != nil {
		return fmt.Errorf("open event store: %w", err)
	}
	d.store = store
	// Close flushes the appender: every append in flight commits or fails
	// before the pool closes.
	d.closers = append(d.closers, store.Close)
	return nil
}

func (d *daemon) loadTokens(context.Context) error {
	tokens, created, err := api.LoadOrCreateTokens(d.cfg.TokensFile)
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	if created {
		d.logger.Info("generated API tokens", "path", d.cfg.TokensFile)
	} else {
		d.logger.Info("loaded API tokens", "path", d.cfg.TokensFile, "count", len(tokens))
	}
	d.tokens = tokens
	return nil
}

// watchEmbeddedNATS watches the disk of the embedded server's store.
func (d *daemon) watchEmbeddedNATS(context.Context) error {
	if d.embedded != nil {
		d.run.Go("jetstream store watch", func(ctx context.Context) error {
			return d.embedded.WatchStore(ctx, time.Second, d.logger.With("component", "nats-server"))
		})
	}
	return nil
}

// startRelay starts the outbox relay into the JetStream mirror.
func (d *daemon) startRelay(context.Context) error {
	if d.opts.noRelay {
		return nil
	}
	d.usedStreams = func() []string { return []string{mirror.StreamName} }
	// No component key here: the relay adds "component":"relay" itself.
	relay, err := mirror.NewRelay(d.store, d.pool, d.js, mirror.RelayOptions{Logger: d.logger, Registerer: d.reg, Replicas: d.cfg.StreamReplicas})
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	d.run.Go("relay", relay.Run)
	return nil
}

// startConsumers starts the OEM invoice consumers and the watch that
// provisions a feed for each enrolled OEM.
func (d *daemon) startConsumers(context.Context) error {
	if d.opts.noIngest {
		return nil
	}
	// An OEM message is acknowledged only once its events are in the
	// mirror, whichever daemon runs the relay: an asynchronous
	// failover then loses no acknowledged invoice (recover brings it back).
	consumer, err := ingest.New(d.js, d.store, ingest.Options{Logger: d.logger.With("component", "ingest"), Registerer: d.reg,
		Replicas: d.cfg.StreamReplicas, StreamMaxBytes: d.cfg.StreamMaxBytes, Mirrored: mirror.NewWatermark(d.js)})
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	d.run.Go("ingest", consumer.Run)
	relayStreams := d.usedStreams
	d.usedStreams = func() []string { return append(relayStreams(), consumer.Streams()...) }
	provision := consumer.Provision
	if embedded := d.embedded; embedded != nil {
		// Each enrolled OEM gets its account and user on the embedded
		// server before its stream is created.
		provision = func(ctx context.Context, oem string) error {
			if err := embedded.AddOEM(oem); err != nil {
				d.logger.Warn("embedded NATS: no OEM user", "oem", oem, "err", err)
			}
			return consumer.Provision(ctx, oem)
		}
	}
	d.run.Go("oem watch", func(ctx context.Context) error {
		return oemwatch.Watch(ctx, d.store, serialized(d.pool, "oem-provision", provision), d.logger.With("component", "oemwatch"))
	})
	return nil
}

// startVerifier verifies the hash chain and the mirror on a schedule.
func (d *daemon) startVerifier(context.Context) error {
	if d.opts.verifyEvery <= 0 {
		return nil
	}
	v, err := newVerifier(d.store, d.js, d.opts.verifyEvery, d.reg, d.logger.With("component", "verify"))
	if err != nil {
		return fmt.Errorf("verify metrics: %w", err)
	}
	d.run.Go("verify", v.run)
	return nil
}

// startRunners starts the projection runners and keeps the read side and
// the projections' readiness checks for the API.
func (d *daemon) startRunners(context.Context) error {
	d.queries, d.projChecks = startProjections(d.pool, d.store, d.reg, d.logger, !d.opts.noProjections, d.run.Go)
	return nil
}

// serveHTTP serves the API, /metrics and the probes, and prints the ready
// line.
func (d *daemon) serveHTTP(ctx context.Context) error {
	readiness := []api.Checker{
		{Name: "database", Check: func(ctx context.Context) error { return databaseWritable(ctx, d.pool) }},
		{Name: "log_fence", Check: func(context.Context) error { return d.store.Fenced() }},
		// Probed now, with a short timeout: connected, every stream in use
		// has a leader and room, and a write is acknowledged.
		{Name: "nats", Check: natsReady(d.embedded, jshealth.New(d.js, jshealth.Options{Streams: d.usedStreams, Replicas: d.cfg.StreamReplicas}))},
		{Name: "migrations", Check: func(ctx context.Context) error { return dbsetup.Check(ctx, d.pool) }},
	}
	// A stopped projection does not take every instance out of service
	// (docs/operations.md, "Stopped projections").
	readiness = append(readiness, d.projChecks...)
	handler, err := api.NewServer(api.Deps{
		Store: d.store, Pool: d.pool, Tokens: d.tokens, Logger: d.logger.With("component", "http"),
		Registerer: d.reg, Gatherer: d.reg, Readiness: readiness, Queries: d.queries,
	})
	if err != nil {
		return fmt.Errorf("http api: %w", err)
	}
	ln, err := net.Listen("tcp", d.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", d.cfg.HTTPAddr, err)
	}
	d.run.serve(ctx, api.NewHTTPServer(d.cfg.HTTPAddr, handler), ln)
	d.logger.Info("dealcreditd ready", "http", "http://"+ln.Addr().String(), "nats", config.Redact(d.natsURL))
	fmt.Fprintln(d.stdout, readyLine(ln.Addr().String(), d.cfg.TokensFile))
	return nil
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
