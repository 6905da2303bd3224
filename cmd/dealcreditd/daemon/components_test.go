package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink the components may write from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// served starts an HTTP server as the components' one served endpoint and
// returns a function that reports whether it still answers.
func served(t *testing.T, ctx context.Context, c *components) func() bool {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.serve(ctx, &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}, ln)
	url := "http://" + ln.Addr().String()
	return func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}
}

// blockUntilStopped is a component that runs until its context ends and
// records whether the HTTP server still answered at that moment.
func blockUntilStopped(answers func() bool, httpUpAtStop *bool) func(context.Context) error {
	return func(ctx context.Context) error {
		<-ctx.Done()
		*httpUpAtStop = answers()
		return ctx.Err()
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
			var log syncBuffer
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := newComponents(ctx, slog.New(slog.NewJSONHandler(&log, nil)))
			answers := served(t, ctx, c)
			var httpUpAtStop bool
			c.Go("runner", blockUntilStopped(answers, &httpUpAtStop))
			failNow := make(chan struct{})
			c.Go("relay", func(ctx context.Context) error {
				select {
				case <-failNow:
					return boom
				case <-ctx.Done():
					return errors.New("stopped") // an error after stop is no failure
				}
			})
			if !answers() {
				t.Fatal("the HTTP server does not answer before the shutdown")
			}
			if tt.fail {
				close(failNow)
			} else {
				cancel()
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
			if httpUpAtStop {
				t.Error("a component stopped while the HTTP server still took requests")
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
	var log syncBuffer
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
