// Package nats_test checks deployments/nats/nats-server.conf by starting a
// real server from it.
package nats_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/consumers/ingest"
	"dealcredit/consumers/oemfeed"
	"dealcredit/internal/natstest"
)

var passwords = map[string]string{
	"DEALCREDIT_NATS_PASSWORD": "daemon-secret",
	"HP_NATS_PASSWORD":         "hp-secret",
	"DELL_NATS_PASSWORD":       "dell-secret",
	"SYS_NATS_PASSWORD":        "sys-secret",
}

// startFromConfig starts nats-server.conf on a free port with a temporary store.
func startFromConfig(t *testing.T) *natstest.Server {
	t.Helper()
	for k, v := range passwords {
		t.Setenv(k, v)
	}
	opts, err := server.ProcessConfigFile("nats-server.conf")
	if err != nil {
		t.Fatalf("process config: %v", err)
	}
	if !opts.SyncAlways {
		t.Fatalf("config does not set jetstream sync_interval: always")
	}
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", server.RANDOM_PORT, 0
	opts.StoreDir = t.TempDir()
	opts.NoLog, opts.NoSigs = true, true
	return natstest.StartWithOptions(t, opts)
}

// oemConn connects as an OEM user the way a feed must: its own inbox prefix.
// Asynchronous errors (permission violations) are sent to errs.
func oemConn(t *testing.T, url, oem string, errs chan<- error) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.UserInfo(oem, passwords[strings.ToUpper(oem)+"_NATS_PASSWORD"]),
		nats.CustomInboxPrefix("_INBOX_"+oem),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case errs <- err:
			default:
			}
		}))
	if err != nil {
		t.Fatalf("connect as %s: %v", oem, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestOEMPermissions(t *testing.T) {
	srv := startFromConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	daemon, err := nats.Connect(srv.URL(), nats.UserInfo("dealcredit", passwords["DEALCREDIT_NATS_PASSWORD"]))
	if err != nil {
		t.Fatalf("connect as dealcredit: %v", err)
	}
	defer daemon.Close()
	djs, err := jetstream.New(daemon)
	if err != nil {
		t.Fatal(err)
	}
	for _, oem := range []string{"hp", "dell"} {
		if err := ingest.EnsureStreams(ctx, djs, oem, ingest.Options{StreamMaxBytes: 64 << 20}); err != nil {
			t.Fatalf("ensure streams: %v", err)
		}
	}

	errs := make(chan error, 16)
	hp := oemConn(t, srv.URL(), "hp", errs)
	hjs, err := jetstream.New(hp)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"schema":"` + oemfeed.SchemaV1 + `"}`)

	// Its own subject: stored and acknowledged, without any $JS.API permission.
	ack, err := hjs.Publish(ctx, "oem.hp.invoices", body, jetstream.WithMsgID("hp:X:1"))
	if err != nil {
		t.Fatalf("hp publish to its own subject: %v", err)
	}
	if ack.Stream != "OEM_HP" {
		t.Fatalf("acked by stream %q, want OEM_HP", ack.Stream)
	}

	cases := []struct {
		name, subject string
		do            func() error
	}{
		{"publish to dell's subject", "oem.dell.invoices", func() error {
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			defer pcancel()
			_, err := hjs.Publish(pctx, "oem.dell.invoices", body)
			return err
		}},
		{"publish to the dead-letter subject", "oem.hp.invoices.rejected", func() error {
			return hp.Publish("oem.hp.invoices.rejected", body)
		}},
		{"call the JetStream API", "$JS.API.STREAM.INFO.OEM_DELL", func() error {
			sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
			defer scancel()
			_, err := hjs.Stream(sctx, "OEM_DELL")
			return err
		}},
		{"subscribe to dell's invoices", "oem.dell.invoices", func() error {
			_, err := hp.SubscribeSync("oem.dell.invoices")
			if err == nil {
				err = hp.Flush()
			}
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_ = tc.do() // the violation itself arrives asynchronously
			deadline := time.After(5 * time.Second)
			for {
				select {
				case err := <-errs:
					if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), tc.subject) {
						return
					}
				case <-deadline:
					t.Fatalf("no permission violation for %s", tc.subject)
				}
			}
		})
	}

	for stream, want := range map[string]uint64{"OEM_HP": 1, "OEM_DELL": 0, ingest.DLQStream: 0} {
		s, err := djs.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != want {
			t.Errorf("stream %s has %d messages, want %d", stream, info.State.Msgs, want)
		}
	}

	// Wrong password: refused.
	if _, err := nats.Connect(srv.URL(), nats.UserInfo("hp", "guess")); err == nil {
		t.Errorf("connect with a wrong password succeeded")
	}
}
