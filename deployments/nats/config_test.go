// Package nats_test checks deployments/nats/nats-server.conf by starting a
// real server from it.
package nats_test

import (
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"dealcredit/internal/testkit/natsiso"
	"dealcredit/internal/testkit/natstest"
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

// TestOEMIsolation runs every route an OEM user might try against the
// service's streams (natsiso.Check) on a server started from the config.
func TestOEMIsolation(t *testing.T) {
	srv := startFromConfig(t)
	daemon, err := nats.Connect(srv.URL(), nats.UserInfo("dealcredit", passwords["DEALCREDIT_NATS_PASSWORD"]))
	if err != nil {
		t.Fatalf("connect as dealcredit: %v", err)
	}
	defer daemon.Close()
	natsiso.Check(t, daemon, func(oem string, opts ...nats.Option) (*nats.Conn, error) {
		opts = append(opts, nats.UserInfo(oem, passwords[strings.ToUpper(oem)+"_NATS_PASSWORD"]))
		return nats.Connect(srv.URL(), opts...)
	})
}

// TestOEMCustomInboxPrefix: a feed configured with the inbox prefix
// "_INBOX_<oem>" (the documented setting before accounts) still gets its
// publish acknowledgements.
func TestOEMCustomInboxPrefix(t *testing.T) {
	srv := startFromConfig(t)
	daemon, err := nats.Connect(srv.URL(), nats.UserInfo("dealcredit", passwords["DEALCREDIT_NATS_PASSWORD"]))
	if err != nil {
		t.Fatalf("connect as dealcredit: %v", err)
	}
	defer daemon.Close()
	natsiso.Check(t, daemon, func(oem string, opts ...nats.Option) (*nats.Conn, error) {
		opts = append(opts, nats.UserInfo(oem, passwords[strings.ToUpper(oem)+"_NATS_PASSWORD"]),
			nats.CustomInboxPrefix("_INBOX_"+oem))
		return nats.Connect(srv.URL(), opts...)
	})
}

// TestAuthentication: no anonymous clients, no wrong passwords, and an OEM's
// password opens only its own user.
func TestAuthentication(t *testing.T) {
	srv := startFromConfig(t)
	for _, tc := range []struct {
		name string
		opt  nats.Option
	}{
		{"anonymous", nil},
		{"wrong password", nats.UserInfo("hp", "guess")},
		{"another user's password", nats.UserInfo("dell", passwords["HP_NATS_PASSWORD"])},
		{"an OEM's password for the service user", nats.UserInfo("dealcredit", passwords["HP_NATS_PASSWORD"])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []nats.Option
			if tc.opt != nil {
				opts = append(opts, tc.opt)
			}
			nc, err := nats.Connect(srv.URL(), opts...)
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
			if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
				t.Fatalf("connect: %v, want an authorization error", err)
			}
		})
	}
}
