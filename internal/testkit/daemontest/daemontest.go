// Package daemontest starts the real daemon (internal/daemon.Run) in-process
// for end-to-end tests: its own new database, data directory, embedded
// JetStream server and HTTP port.
package daemontest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/cmd/dealcreditd/config"
	"dealcredit/cmd/dealcreditd/daemon"
	"dealcredit/cmd/dealcreditd/natsauth"
	"dealcredit/internal/testkit/pgtest"
)

// Token is one entry of the generated tokens file.
type Token struct {
	Token     string `json:"token"`
	Role      string `json:"role"`
	PartnerID string `json:"partner_id"`
}

// Daemon is a running daemon.
type Daemon struct {
	URL string            // e.g. http://127.0.0.1:39017
	Env map[string]string // the environment it was started with
	// NATSURL is the NATS server the daemon uses: NATS_URL when set, else
	// its embedded server's client URL (from its "dealcreditd ready" log
	// line) with the service user's generated credentials in it.
	NATSURL string
	Tokens  []Token
	stop    func() error
}

// Start runs the daemon on free ports with a database that does not exist
// yet (the daemon creates it) and a fresh data directory; env entries
// override those defaults. It waits until /readyz answers 200. The daemon is
// stopped (as by SIGTERM) in tb.Cleanup unless the test stopped it.
func Start(tb testing.TB, env map[string]string, args ...string) *Daemon {
	tb.Helper()
	return StartLogged(tb, env, nil, args...)
}

// StartLogged is Start with the daemon's JSON log lines also written to
// logs (when not nil), e.g. to show them when a test fails.
func StartLogged(tb testing.TB, env map[string]string, logs io.Writer, args ...string) *Daemon {
	tb.Helper()
	vars := map[string]string{
		"DATABASE_URL":                  pgtest.MissingDatabase(tb),
		"DEALCREDIT_DATA_DIR":           tb.TempDir(),
		"DEALCREDIT_HTTP_ADDR":          "127.0.0.1:0",
		"DEALCREDIT_EMBEDDED_NATS_ADDR": "127.0.0.1:0",
	}
	for k, v := range env {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	watcher := &readyWatcher{tee: logs}
	go func() {
		err := daemon.Run(ctx, args, func(k string) string { return vars[k] }, pw, watcher)
		pw.CloseWithError(err)
		done <- err
	}()
	d := &Daemon{Env: vars}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), daemon.ReadyPrefix); ok {
			d.URL, _, _ = strings.Cut(rest, " ")
			break
		}
	}
	if d.URL == "" {
		cancel()
		tb.Fatalf("daemontest: daemon did not start: %v", <-done)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	// The ready line is logged before the listening line is printed.
	d.NATSURL = watcher.natsURL()
	stopped := false
	d.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(60 * time.Second):
			tb.Fatal("daemontest: daemon did not stop within 60 s of SIGTERM")
			return nil
		}
	}
	tb.Cleanup(func() {
		if err := d.stop(); err != nil {
			tb.Errorf("daemontest: daemon stopped with %v", err)
		}
	})
	b, err := os.ReadFile(filepath.Join(vars["DEALCREDIT_DATA_DIR"], "tokens.json"))
	if err != nil {
		tb.Fatalf("daemontest: tokens file not generated: %v", err)
	}
	if err := json.Unmarshal(b, &d.Tokens); err != nil {
		tb.Fatalf("daemontest: tokens file: %v", err)
	}
	if u := vars["NATS_URL"]; u != "" {
		d.NATSURL = u
	} else {
		d.NATSURL = withCredentials(tb, d.NATSURL, filepath.Join(vars["DEALCREDIT_DATA_DIR"], config.EmbeddedNATSCredentialsFileName))
	}
	d.WaitReady(tb)
	return d
}

// withCredentials puts the service user of the embedded server's
// credentials file into natsURL.
func withCredentials(tb testing.TB, natsURL, credsFile string) string {
	tb.Helper()
	creds, err := natsauth.Load(credsFile)
	if err != nil {
		tb.Fatalf("daemontest: %v", err)
	}
	u, err := url.Parse(natsURL)
	if err != nil {
		tb.Fatalf("daemontest: NATS URL %q: %v", natsURL, err)
	}
	u.User = url.UserPassword(creds.Service.User, creds.Service.Password)
	return u.String()
}

// readyWatcher discards the daemon's JSON log (or copies it to tee) but
// remembers the NATS URL of its "dealcreditd ready" line. slog writes one
// whole line per Write.
type readyWatcher struct {
	tee io.Writer
	mu  sync.Mutex
	url string
}

func (w *readyWatcher) Write(p []byte) (int, error) {
	if w.tee != nil {
		_, _ = w.tee.Write(p)
	}
	if bytes.Contains(p, []byte(`"msg":"dealcreditd ready"`)) {
		var line struct {
			NATS string `json:"nats"`
		}
		if json.Unmarshal(p, &line) == nil {
			w.mu.Lock()
			w.url = line.NATS
			w.mu.Unlock()
		}
	}
	return len(p), nil
}

func (w *readyWatcher) natsURL() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.url
}

// Stop stops the daemon as SIGTERM would and returns Run's error.
func (d *Daemon) Stop() error { return d.stop() }

// Token returns the first token of role.
func (d *Daemon) Token(tb testing.TB, role string) string {
	tb.Helper()
	for _, tk := range d.Tokens {
		if tk.Role == role {
			return tk.Token
		}
	}
	tb.Fatalf("daemontest: no %s token", role)
	return ""
}

// WaitReady polls /readyz until it answers 200 (30 s at most).
func (d *Daemon) WaitReady(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(d.URL + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			if time.Now().After(deadline) {
				tb.Fatalf("daemontest: /readyz = %d %s", resp.StatusCode, body)
			}
		} else if time.Now().After(deadline) {
			tb.Fatalf("daemontest: /readyz: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

// WaitOEMUser waits (30 s at most) until the daemon has provisioned OEM
// oem: its user in the embedded server's generated credentials and its
// stream OEM_<OEM>, read through service; it returns the user.
func (d *Daemon) WaitOEMUser(tb testing.TB, oem string, service jetstream.JetStream) natsauth.User {
	tb.Helper()
	credsFile := filepath.Join(d.Env["DEALCREDIT_DATA_DIR"], config.EmbeddedNATSCredentialsFileName)
	stream := "OEM_" + strings.ToUpper(oem)
	var u natsauth.User
	for deadline := time.Now().Add(30 * time.Second); ; {
		if creds, err := natsauth.Load(credsFile); err == nil {
			u = creds.OEMs[oem]
		}
		if _, err := service.Stream(context.Background(), stream); err == nil && u.Password != "" {
			return u
		}
		if time.Now().After(deadline) {
			tb.Fatalf("daemontest: 30 s after enrolling OEM %s: user %q, no stream %s", oem, u.User, stream)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
}
