// Package natsserver runs the daemon's embedded NATS JetStream server, used
// when no external NATS_URL is configured. It is the real nats-server, with a
// file store under <DataDir>/jetstream that syncs every write to disk
// (sync_interval: always), so an acknowledged publish survives a crash.
//
// No client connects without a password: the server has the accounts of
// deployments/nats/nats-server.conf, the service's (user ServiceUser, owns
// the streams) and one per OEM added with AddOEM (its user may publish only
// its own invoices subject). The passwords are generated and kept in
// <DataDir>/nats-credentials.json (mode 0600), where the CLI finds them.
package natsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"dealcredit/consumers/oemfeed"
	"dealcredit/internal/secretfile"
)

// DefaultHost is the interface the embedded server listens on when
// Options.Host is empty: loopback only, it is not meant for outside clients.
const DefaultHost = "127.0.0.1"

// RandomPort asks for a free port chosen by the operating system.
const RandomPort = -1

// Options configures the embedded server.
type Options struct {
	// DataDir holds the JetStream file store (in DataDir/jetstream) and,
	// unless CredentialsFile says otherwise, the credentials file. Required.
	DataDir string
	// CredentialsFile holds the generated passwords; empty means
	// DataDir/CredentialsFileName.
	CredentialsFile string
	// Host is the listen address; empty means DefaultHost.
	Host string
	// Port is the client port. 0 means the NATS default 4222; RandomPort
	// (-1) picks a free port, read it back with Server.ClientURL.
	Port int
	// Logger receives the server's log lines; nil discards them.
	Logger *slog.Logger
	// ReadyTimeout bounds the wait for the server to accept clients;
	// 0 means 10 seconds.
	ReadyTimeout time.Duration
}

// Server is a running embedded JetStream server.
type Server struct {
	srv       *server.Server
	auth      *authenticator
	credsPath string

	service User // never changes

	mu      sync.Mutex // serialises AddOEM
	creds   Credentials
	dataDir string
	// storeWasFull: WatchStore saw the store's disk full and has not
	// restarted JetStream since.
	storeWasFull atomic.Bool
}

// Start runs an embedded JetStream server and returns once it accepts
// client connections (or ctx ends, or the ready timeout passes).
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.DataDir == "" {
		return nil, errors.New("natsserver: data dir is required")
	}
	if err := os.MkdirAll(opts.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("natsserver: create data dir: %w", err)
	}
	opts = opts.withDefaults()
	creds, created, err := loadOrCreateCredentials(opts.CredentialsFile)
	if err != nil {
		return nil, err
	}
	if created && opts.Logger != nil {
		opts.Logger.Info("generated NATS credentials", "path", opts.CredentialsFile)
	}
	sopts, err := serverOptions(opts)
	if err != nil {
		return nil, err
	}
	auth := &authenticator{users: map[string]authUser{
		creds.Service.User: {password: creds.Service.Password, account: ServiceAccount},
	}}
	sopts.CustomClientAuthentication = auth
	s, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("natsserver: new server: %w", err)
	}
	auth.srv = s
	es := &Server{srv: s, auth: auth, credsPath: opts.CredentialsFile, service: creds.Service, creds: creds, dataDir: opts.DataDir}
	for oem, u := range creds.OEMs {
		if err := es.wireOEM(oem, u); err != nil {
			return nil, err
		}
	}
	if opts.Logger != nil {
		s.SetLoggerV2(slogAdapter{opts.Logger.With("component", "nats-server")}, false, false, false)
	}
	go s.Start()

	if err := waitReady(ctx, s, opts); err != nil {
		return nil, err
	}
	return es, nil
}

// withDefaults fills in the options Start may be given empty.
func (o Options) withDefaults() Options {
	if o.Host == "" {
		o.Host = DefaultHost
	}
	if o.Port == 0 {
		o.Port = 4222
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 10 * time.Second
	}
	if o.CredentialsFile == "" {
		o.CredentialsFile = filepath.Join(o.DataDir, CredentialsFileName)
	}
	return o
}

// MaxPayload is the embedded server's max_payload: room for a body of
// oemfeed.MaxMessageSize and the headers of its dead letter.
const MaxPayload = 2 << 20

// serverOptions is the embedded server's configuration: the service
// account, JetStream in the data directory with every write synced.
func serverOptions(opts Options) (*server.Options, error) {
	sopts := &server.Options{}
	if err := sopts.ProcessConfigString(serviceAccountConfig); err != nil {
		return nil, fmt.Errorf("natsserver: accounts: %w", err)
	}
	sopts.ServerName = "dealcredit-embedded"
	sopts.Host, sopts.Port = opts.Host, opts.Port
	sopts.JetStream = true
	// The server appends "jetstream" to StoreDir itself.
	sopts.StoreDir = opts.DataDir
	sopts.SyncAlways = true
	// An OEM may publish a body of oemfeed.MaxMessageSize with its headers,
	// and the dead letter of such a body carries more headers: the default
	// max_payload (1 MiB, headers included) would refuse both. 2 MiB, as in
	// deployments/nats.
	sopts.MaxPayload = MaxPayload
	sopts.NoSigs = true
	sopts.NoLog = opts.Logger == nil
	// The ASCII-art banner is noise in structured logs.
	sopts.DisableJetStreamBanner = true
	return sopts, nil
}

// waitReady waits until s accepts connections with JetStream enabled; when
// it does not within opts.ReadyTimeout (or ctx ends) it shuts s down.
func waitReady(ctx context.Context, s *server.Server, opts Options) error {
	deadline := time.Now().Add(opts.ReadyTimeout)
	for !s.ReadyForConnections(100 * time.Millisecond) {
		if ctx.Err() != nil || time.Now().After(deadline) {
			s.Shutdown()
			s.WaitForShutdown()
			if ctx.Err() != nil {
				return fmt.Errorf("natsserver: start: %w", ctx.Err())
			}
			return fmt.Errorf("natsserver: not ready for connections on %s:%d after %s", opts.Host, opts.Port, opts.ReadyTimeout)
		}
	}
	if !s.JetStreamEnabled() {
		s.Shutdown()
		s.WaitForShutdown()
		return errors.New("natsserver: jetstream did not start")
	}
	return nil
}

// Service is the user the daemon and the CLI connect as.
func (s *Server) Service() User { return s.service }

// CredentialsFile is the path of the generated credentials.
func (s *Server) CredentialsFile() string { return s.credsPath }

// AddOEM gives the OEM an account and a user (with a generated password,
// saved in the credentials file) that may publish only to its invoices
// subject. An OEM that has them is left alone.
func (s *Server) AddOEM(oem string) error {
	if !oemfeed.ValidOEMID(oem) || oem == s.service.User {
		return fmt.Errorf("natsserver: add OEM: %q is not a valid OEM id", oem)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.creds.OEMs[oem]; ok {
		return nil
	}
	pw, err := password()
	if err != nil {
		return err
	}
	next := Credentials{Service: s.creds.Service, OEMs: map[string]User{oem: {User: oem, Password: pw}}}
	for k, v := range s.creds.OEMs {
		next.OEMs[k] = v
	}
	b, err := encode(next)
	if err != nil {
		return err
	}
	if err := secretfile.Replace(s.credsPath, b); err != nil {
		return fmt.Errorf("natsserver: add OEM %s: %w", oem, err)
	}
	if err := s.wireOEM(oem, next.OEMs[oem]); err != nil {
		return err
	}
	s.creds = next
	return nil
}

// ClientURL is the URL clients connect to, e.g. nats://127.0.0.1:4222.
func (s *Server) ClientURL() string { return s.srv.ClientURL() }

// Shutdown stops the server and waits until it has stopped and flushed its
// store, or ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("natsserver: shutdown: %w", ctx.Err())
	}
}

// slogAdapter routes the server's printf-style logger into slog.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Noticef(format string, v ...any) { a.l.Info(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Fatalf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Errorf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Debugf(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Tracef(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
