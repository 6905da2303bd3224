// Package natstest starts a real, embedded JetStream server on a free loopback
// port for tests, with its store in a temporary directory.
package natstest

import (
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is a running embedded JetStream server.
type Server struct {
	*server.Server
	opts *server.Options
}

// Start runs a JetStream server on 127.0.0.1 with a random port and a store
// under tb.TempDir(); it is shut down in tb.Cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartWithOptions(tb, &server.Options{
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   tb.TempDir(),
		NoLog:      true,
		NoSigs:     true,
		SyncAlways: true,
	})
}

// StartWithOptions runs a server with the given options; it is shut down in tb.Cleanup.
func StartWithOptions(tb testing.TB, opts *server.Options) *Server {
	tb.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		tb.Fatalf("natstest: new server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		tb.Fatalf("natstest: server not ready")
	}
	srv := &Server{Server: s, opts: opts}
	tb.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

// URL returns the client URL of the server.
func (s *Server) URL() string { return s.ClientURL() }

// Restart shuts the server down and starts a new one on the same port with the
// same store directory, as a NATS restart would. It returns the new server;
// the old value must not be used afterwards.
func (s *Server) Restart(tb testing.TB) *Server {
	tb.Helper()
	o := *s.opts
	if o.Port == server.RANDOM_PORT {
		u, err := url.Parse(s.ClientURL())
		if err != nil {
			tb.Fatalf("natstest: parse client url: %v", err)
		}
		o.Port, err = strconv.Atoi(u.Port())
		if err != nil {
			tb.Fatalf("natstest: client url port: %v", err)
		}
	}
	s.Shutdown()
	s.WaitForShutdown()
	return StartWithOptions(tb, &o)
}
