package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dealcredit/internal/pgtest"
)

// daemon is a dealcreditd started in-process with run, as main would.
type daemon struct {
	URL    string
	Tokens []struct {
		Token     string `json:"token"`
		Role      string `json:"role"`
		PartnerID string `json:"partner_id"`
	}
	stop func() error
}

// startDaemon runs the daemon on free ports with its own new database and
// data directory; env entries override the defaults. It is stopped (as by
// SIGTERM) in t.Cleanup if the test did not stop it.
func startDaemon(t *testing.T, env map[string]string) *daemon {
	t.Helper()
	vars := map[string]string{
		"DATABASE_URL":                  pgtest.MissingDatabase(t),
		"DEALCREDIT_DATA_DIR":           t.TempDir(),
		"DEALCREDIT_HTTP_ADDR":          "127.0.0.1:0",
		"DEALCREDIT_EMBEDDED_NATS_ADDR": "127.0.0.1:0",
	}
	for k, v := range env {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, nil, func(k string) string { return vars[k] }, pw, io.Discard)
		pw.CloseWithError(err)
		done <- err
	}()
	d := &daemon{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "dealcreditd listening on "); ok {
			d.URL = addr
			break
		}
	}
	if d.URL == "" {
		cancel()
		t.Fatalf("daemon did not start: %v", <-done)
	}
	go io.Copy(io.Discard, pr)
	var once bool
	d.stop = func() error {
		if once {
			return nil
		}
		once = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(60 * time.Second):
			t.Fatal("daemon did not stop within 60 s of SIGTERM")
			return nil
		}
	}
	t.Cleanup(func() {
		if err := d.stop(); err != nil {
			t.Errorf("daemon stopped with %v", err)
		}
	})
	b, err := os.ReadFile(filepath.Join(vars["DEALCREDIT_DATA_DIR"], "tokens.json"))
	if err != nil {
		t.Fatalf("tokens file not generated: %v", err)
	}
	if err := json.Unmarshal(b, &d.Tokens); err != nil {
		t.Fatalf("tokens file: %v", err)
	}
	return d
}

// token returns the first token of role.
func (d *daemon) token(t *testing.T, role string) string {
	t.Helper()
	for _, tk := range d.Tokens {
		if tk.Role == role {
			return tk.Token
		}
	}
	t.Fatalf("no %s token", role)
	return ""
}

// waitReady polls /readyz until it answers 200.
func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz = %d %s", resp.StatusCode, body)
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("/readyz: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

func TestDaemonStartsCreatesDatabaseAndStopsGracefully(t *testing.T) {
	d := startDaemon(t, nil)
	for _, path := range []string{"/healthz", "/metrics", "/openapi.json"} {
		resp, err := http.Get(d.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", path, resp.StatusCode)
		}
	}
	waitReady(t, d.URL)

	resp, err := http.Get(d.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"dealcredit_relay_lag_events", "go_goroutines"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	if err := d.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if _, err := http.Get(d.URL + "/healthz"); err == nil {
		t.Fatal("daemon still serving after stop")
	}
}

func TestDaemonRefusesBadConfiguration(t *testing.T) {
	err := run(context.Background(), []string{"-http-addr", "no-port"}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "DEALCREDIT_HTTP_ADDR") {
		t.Fatalf("run with a bad address = %v, want an error naming DEALCREDIT_HTTP_ADDR", err)
	}
}
