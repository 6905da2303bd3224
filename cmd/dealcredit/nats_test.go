package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/cmd/dealcreditd/config"
	"dealcredit/consumers/oemfeed"
	"dealcredit/internal/testkit/daemontest"
)

// TestEmbeddedNATSCredentials: the daemon's embedded server refuses
// anonymous clients; enrolling an OEM gives it a user in the generated
// credentials file, and with the embedded server's defaults (no NATS_URL)
// the CLI finds that file: publish connects as the OEM, verify as the
// service.
func TestEmbeddedNATSCredentials(t *testing.T) {
	d := daemontest.Start(t, nil)
	u, err := url.Parse(d.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	bare := "nats://" + u.Host
	if nc, err := nats.Connect(bare); err == nil {
		nc.Close()
		t.Fatal("anonymous client connected to the embedded NATS server")
	}

	body, _ := json.Marshal(map[string]string{"id": "hp", "name": "HP", "kind": "oem", "geography": "us-east"})
	req, _ := http.NewRequest("POST", d.URL+"/v1/partners", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+d.Token(t, "admin"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("enroll OEM hp: %d", resp.StatusCode)
	}
	// The daemon adds the OEM's user, then creates its stream.
	service, err := nats.Connect(d.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer service.Close()
	js, err := jetstream.New(service)
	if err != nil {
		t.Fatal(err)
	}
	hp := d.WaitOEMUser(t, "hp", js)

	// The OEM's user publishes its invoices and nothing else (the whole
	// route matrix: cmd/dealcreditd/natsserver and internal/testkit/natsiso).
	nc, err := nats.Connect(bare, nats.UserInfo(hp.User, hp.Password),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})) // the violation below is expected
	if err != nil {
		t.Fatalf("connect as hp: %v", err)
	}
	defer nc.Close()
	if _, err := nc.Request("$JS.API.STREAM.INFO.DEALCREDIT_EVENTS", nil, time.Second); err == nil {
		t.Error("OEM user hp called the JetStream API")
	}

	// The CLI with the embedded server's defaults: no NATS_URL.
	feed := filepath.Join(t.TempDir(), "hp.jsonl")
	var gen bytes.Buffer
	if err := oemfeed.Generate(&gen, oemfeed.GenOptions{OEMs: []string{"hp"}, Invoices: 3, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(feed, gen.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"DATABASE_URL":                  d.Env["DATABASE_URL"],
		"DEALCREDIT_DATA_DIR":           d.Env["DEALCREDIT_DATA_DIR"],
		"DEALCREDIT_EMBEDDED_NATS_ADDR": u.Host,
	}
	for _, args := range [][]string{{"publish", "--oem", "hp", feed}, {"verify"}} {
		var out bytes.Buffer
		err := run(context.Background(), args, func(k string) string { return env[k] }, &out, &out)
		if err != nil {
			t.Fatalf("dealcredit %v without NATS_URL: %v\n%s", args, err, out.String())
		}
		if args[0] == "publish" && !strings.Contains(out.String(), "3 acknowledged") {
			t.Fatalf("dealcredit publish: %s", out.String())
		}
	}

	// Without the credentials file the CLI says where it looked.
	env["DEALCREDIT_DATA_DIR"] = t.TempDir()
	var out bytes.Buffer
	err = run(context.Background(), []string{"publish", "--oem", "hp", feed}, func(k string) string { return env[k] }, &out, &out)
	if err == nil || !strings.Contains(err.Error(), config.EmbeddedNATSCredentialsFileName) {
		t.Fatalf("publish without credentials: %v, want an error naming the credentials file", err)
	}
}

// TestCLIErrorsMaskPasswords: a NATS or database password given in the
// URLs never appears in the CLI's output, its errors or its help (which
// shows the environment's values as the flags' defaults).
func TestCLIErrorsMaskPasswords(t *testing.T) {
	const natsPW, dbPW = "cli-nats-Pw-91ac", "cli-db-Pw-5e0f"
	feed := filepath.Join(t.TempDir(), "empty.jsonl")
	if err := os.WriteFile(feed, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"NATS_URL":     "nats://dealcredit:" + natsPW + "@127.0.0.1:1",
		"DATABASE_URL": "postgres://postgres:" + dbPW + "@127.0.0.1:1/dealcredit?sslmode=disable&connect_timeout=2",
	}
	for _, args := range [][]string{{"publish", "--oem", "hp", feed}, {"verify"}, {"-h"}} {
		var out bytes.Buffer
		err := run(context.Background(), args, func(k string) string { return env[k] }, &out, &out)
		if err == nil && args[0] != "-h" {
			t.Fatalf("dealcredit %v succeeded without a server", args)
		}
		text := out.String()
		if err != nil {
			text += err.Error()
		}
		for _, pw := range []string{natsPW, dbPW} {
			if strings.Contains(text, pw) {
				t.Errorf("dealcredit %v shows the password %q: %s", args, pw, text)
			}
		}
	}
}
