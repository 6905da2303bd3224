package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"dealcredit/internal/testkit/logbuf"
)

// server is an HTTP server served by the components, with one request that
// stays in flight until released.
type server struct {
	url      string
	inFlight chan struct{} // closed when the blocking request has arrived
	release  chan struct{} // closing it answers the blocking request
	answered chan error    // the blocking request's outcome
}

func serveBlocking(t *testing.T, ctx context.Context, c *components) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{url: "http://" + ln.Addr().String(), inFlight: make(chan struct{}), release: make(chan struct{}), answered: make(chan error, 1)}
	c.serve(ctx, &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			close(s.inFlight)
			<-s.release
		}
	})}, ln)
	go func() {
		resp, err := http.Get(s.url + "/block")
		if err == nil {
			resp.Body.Close()
		}
		s.answered <- err
	}()
	<-s.inFlight
	return s
}

// accepts reports whether the server still accepts a request.
func (s *server) accepts() bool {
	resp, err := http.Get(s.url + "/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// waitFor polls cond until it holds or a minute has passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
	}
}

func TestComponentsStopTogether(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name      string
		fail      bool // a component fails instead of the context ending
		wantErr   string
		wantLog   string
		unwantLog string
	}{
		{name: "signal", wantLog: `"msg":"shutting down"`, unwantLog: "component failed"},
		{name: "first failure", fail: true, wantErr: "relay: boom", wantLog: `"msg":"component failed, shutting down","err":"relay: boom"`, unwantLog: `"msg":"shutting down"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log logbuf.Buffer
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := newComponents(ctx, slog.New(slog.NewJSONHandler(&log, nil)))
			srv := serveBlocking(t, ctx, c)
			c.Go("runner", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
			failNow := make(chan struct{})
			c.Go("relay", func(ctx context.Context) error {
				select {
				case <-failNow:
					return boom
				case <-ctx.Done():
					return errors.New("stopped") // an error after stop is no failure
				}
			})
			if tt.fail {
				close(failNow)
			} else {
				cancel()
			}
			// The server stops taking requests first; the components keep
			// running while a request is in flight.
			waitFor(t, "the HTTP server refuses new requests", func() bool { return !srv.accepts() })
			if c.run.Err() != nil {
				t.Error("the components stopped before the HTTP server finished its requests")
			}
			close(srv.release)
			if err := <-srv.answered; err != nil {
				t.Errorf("the request in flight at shutdown: %v", err)
			}
			done := make(chan error, 1)
			go func() { done <- c.wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(time.Minute):
				t.Fatal("the components did not stop within a minute")
			}
			if got := errString(err); got != tt.wantErr {
				t.Errorf("wait() = %q, want %q", got, tt.wantErr)
			}
			if !strings.Contains(log.String(), tt.wantLog) {
				t.Errorf("log lacks %s:\n%s", tt.wantLog, log.String())
			}
			if strings.Contains(log.String(), tt.unwantLog) {
				t.Errorf("log has %s:\n%s", tt.unwantLog, log.String())
			}
		})
	}
}

func TestComponentsLogALaterFailureAndReturnTheFirst(t *testing.T) {
	var log logbuf.Buffer
	c := newComponents(context.Background(), slog.New(slog.NewJSONHandler(&log, nil)))
	first := make(chan struct{})
	c.Go("ingest", func(context.Context) error { close(first); return errors.New("first") })
	c.Go("verify", func(ctx context.Context) error {
		<-first
		<-c.stopping.Done() // the daemon is shutting down when this one fails
		return errors.New("second")
	})
	if got := errString(c.wait()); got != "ingest: first" {
		t.Errorf("wait() = %q, want the first failure %q", got, "ingest: first")
	}
	if want := `"msg":"component failed","component":"verify","err":"second"`; !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %s:\n%s", want, log.String())
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
