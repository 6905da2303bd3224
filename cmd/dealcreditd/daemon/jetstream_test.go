package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/consumers/ingest"
	"dealcredit/internal/testkit/daemontest"
	"dealcredit/internal/testkit/natstest"
)

// readyz returns /readyz's status and body.
func readyz(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReadyz polls /readyz until it answers status (with want in its body)
// and returns how long that took.
func waitReadyz(t *testing.T, base string, status int, want string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		code, body := readyz(t, base)
		if code == status && strings.Contains(body, want) {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("/readyz = %d %s after %s, want %d with %q", code, body, timeout, status, want)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

func enrollOEM(t *testing.T, d *daemontest.Daemon, oem string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"id": oem, "name": strings.ToUpper(oem), "kind": "oem", "geography": "us-west"})
	req, _ := http.NewRequest(http.MethodPost, d.URL+"/v1/partners", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+d.Token(t, "admin"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("enroll %s: %d %s", oem, resp.StatusCode, b)
	}
}

func jsConnect(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

const invoiceBody = `{"schema":"dealcredit.oem_invoice.v1","oem_id":"hp","invoice_number":"HP-N","revision":1,"kind":"invoice","invoice_date":"2026-02-14","currency":"USD","customer":{"oem_account_id":"C-1","name":"Acme Corp","country":"US"},"lines":[{"line":1,"sku":"ALT-CMS-100","segment":"client_management","quantity":1,"unit_price_minor":4500,"amount_minor":4500}]}`

// ingested publishes invoice HP-<n> and waits until the daemon's consumer
// acknowledged it, at most timeout; it returns how long that took.
func ingested(t *testing.T, js jetstream.JetStream, n int, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	body := strings.Replace(invoiceBody, "HP-N", "HP-"+strconv.Itoa(n), 1)
	var seq uint64
	for {
		// Each attempt has its own deadline: a request lost to a restart is never answered.
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		ack, err := js.Publish(pctx, "oem.hp.invoices", []byte(body))
		pcancel()
		if err == nil {
			seq = ack.Sequence
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("publish HP-%d: %v", n, err)
		}
	}
	for {
		if c, err := js.Consumer(ctx, ingest.StreamName("hp"), "dealcredit-ingest"); err == nil {
			if info := c.CachedInfo(); info.AckFloor.Stream >= seq && info.NumAckPending == 0 {
				return time.Since(start)
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("HP-%d not ingested within %s", n, timeout)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, bounded by ctx
	}
}

// TestReadinessWhenJetStreamCannotStore fills the JetStream store (a small
// max_file_store) with another stream: /readyz turns 503 naming the
// failed write within 2 s; once the space is freed it is 200 again and
// ingest goes on, without a restart. Before, /readyz only asked whether
// the connection was up and stayed 200.
func TestReadinessWhenJetStreamCannotStore(t *testing.T) {
	srv := natstest.StartWithOptions(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), JetStreamMaxStore: 24 << 20, NoLog: true, NoSigs: true})
	d := daemontest.Start(t, map[string]string{"NATS_URL": srv.URL(), "DEALCREDIT_STREAM_MAX_BYTES": "4MiB"})
	enrollOEM(t, d, "hp")
	js := jsConnect(t, srv.URL())
	ingested(t, js, 1, 30*time.Second)
	waitReadyz(t, d.URL, http.StatusOK, `"status":"ready"`, 5*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FILLER", Subjects: []string{"filler"}}); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 256<<10)
	for i := 0; ; i++ {
		_, err := js.Publish(ctx, "filler", chunk)
		var api *jetstream.APIError
		if errors.As(err, &api) {
			t.Logf("store full after %d chunks: %v", i, err)
			break
		}
		if err != nil || i > 200 {
			t.Fatalf("filling the store: chunk %d: %v", i, err)
		}
	}
	took := waitReadyz(t, d.URL, http.StatusServiceUnavailable, "JetStream cannot store", 2*time.Second)
	t.Logf("/readyz 503 %s after the store filled", took.Round(time.Millisecond))

	if err := js.DeleteStream(ctx, "FILLER"); err != nil {
		t.Fatal(err)
	}
	took = waitReadyz(t, d.URL, http.StatusOK, `"status":"ready"`, 3*time.Second)
	t.Logf("/readyz 200 %s after the space was freed", took.Round(time.Millisecond))
	ingested(t, js, 2, 5*time.Second)
}

// TestReadinessAndIngestAcrossJetStreamRestart stops the JetStream server
// under the daemon: /readyz is 503 within 2 s; the server started again on
// the same port and store, /readyz is 200 again and a new invoice is
// ingested within 5 s.
func TestReadinessAndIngestAcrossJetStreamRestart(t *testing.T) {
	opts := &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true}
	srv := natstest.StartWithOptions(t, opts)
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	again := *opts
	again.Port, _ = strconv.Atoi(u.Port())
	d := daemontest.Start(t, map[string]string{"NATS_URL": srv.URL()})
	enrollOEM(t, d, "hp")
	js := jsConnect(t, srv.URL())
	ingested(t, js, 1, 30*time.Second)
	waitReadyz(t, d.URL, http.StatusOK, `"status":"ready"`, 5*time.Second)

	srv.Shutdown()
	srv.WaitForShutdown()
	took := waitReadyz(t, d.URL, http.StatusServiceUnavailable, `"name":"nats","ok":false`, 2*time.Second)
	t.Logf("/readyz 503 %s after the server stopped", took.Round(time.Millisecond))

	natstest.StartWithOptions(t, &again)
	back := time.Now()
	waitReadyz(t, d.URL, http.StatusOK, `"status":"ready"`, 5*time.Second)
	ingested(t, js, 2, 5*time.Second)
	t.Logf("/readyz 200 and a new invoice ingested %s after the server was back", time.Since(back).Round(time.Millisecond))
}
