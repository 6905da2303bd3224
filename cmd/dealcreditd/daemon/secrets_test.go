package daemon_test

import (
	"context"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"dealcredit/cmd/dealcreditd/daemon"
	"dealcredit/internal/testkit/daemontest"
	"dealcredit/internal/testkit/logbuf"
	"dealcredit/internal/testkit/natstest"
	"dealcredit/internal/testkit/pgtest"
)

// TestSecretsNeverLogged runs the daemon with passwords in NATS_URL and
// DATABASE_URL (the local Postgres trusts, so its password is accepted
// unchecked) through start, work and shutdown, and then a start that fails
// on an unreachable database: neither password may appear in any log line
// or error, and the ready line shows the NATS URL masked.
func TestSecretsNeverLogged(t *testing.T) {
	const natsPassword, dbPassword = "nats-Pw-7f3a9c1e", "db-Pw-2b8d04aa"
	srv := natstest.StartWithOptions(t, &server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true, Username: "dealcredit", Password: natsPassword,
	})
	nu, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	nu.User = url.UserPassword("dealcredit", natsPassword)
	du, err := url.Parse(pgtest.MissingDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	du.User = url.UserPassword(du.User.Username(), dbPassword)

	var logs logbuf.Buffer
	d := daemontest.StartLogged(t, map[string]string{"NATS_URL": nu.String(), "DATABASE_URL": du.String()}, &logs)
	if err := d.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	out := logs.String()
	if !strings.Contains(out, `"msg":"dealcreditd ready"`) || !strings.Contains(out, `"nats":"nats://dealcredit:xxxxx@`) {
		t.Errorf("the ready line does not show the NATS URL masked:\n%s", out)
	}

	// A start that fails: the database is unreachable.
	bad := *du
	bad.Host = "127.0.0.1:1"
	env := map[string]string{
		"DATABASE_URL": bad.String(), "NATS_URL": nu.String(),
		"DEALCREDIT_DATA_DIR": t.TempDir(), "DEALCREDIT_HTTP_ADDR": "127.0.0.1:0",
	}
	var failLogs logbuf.Buffer
	runErr := daemon.Run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard, &failLogs)
	if runErr == nil {
		t.Fatal("daemon started without a database")
	}
	for name, text := range map[string]string{"log": out + failLogs.String(), "error": runErr.Error()} {
		for _, pw := range []string{natsPassword, dbPassword} {
			if strings.Contains(text, pw) {
				t.Errorf("the %s shows the password %q:\n%s", name, pw, text)
			}
		}
	}
}
