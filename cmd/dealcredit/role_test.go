package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"dealcredit/cmd/dealcreditd/config"
	"dealcredit/cmd/dealcreditd/dbsetup"
	"dealcredit/internal/testkit/daemontest"
	"dealcredit/internal/testkit/pgtest"
)

// TestDaemonRoleCannotChangeHistory (issue 11, finding 4): the daemon
// started with the default owner DSN serves as config.AppRole; every
// connection it holds is that role, and that role cannot disable the log's
// triggers, set session_replication_role, update, delete, truncate, alter or
// drop events, or become another role. It can append and read, and the
// projections run, rebuild (dealcredit rebuild) and verify with it.
func TestDaemonRoleCannotChangeHistory(t *testing.T) {
	ctx := context.Background()
	d := daemontest.Start(t, nil)
	admin := d.Token(t, "admin")
	enroll := map[string]any{"id": "var-role", "name": "Role VAR", "kind": "var", "geography": "us-west"}
	pos := post(t, d, admin, "/v1/partners", enroll, "Idempotency-Key", "role-1")
	if again := post(t, d, admin, "/v1/partners", enroll, "Idempotency-Key", "role-1"); again != pos {
		t.Fatalf("replayed enrollment at position %s, first at %s", again, pos)
	}
	getOK(t, d, admin, "/v1/partners/var-role?min_position="+pos)

	dsn := d.Env["DATABASE_URL"]
	u, _ := url.Parse(dsn)
	dbName := strings.TrimPrefix(u.Path, "/")
	adminConn, err := pgx.Connect(ctx, pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer adminConn.Close(ctx)
	// Every connection the daemon holds (its pool, the store's follower,
	// the relay's lock) logs in as the app role.
	rows, err := adminConn.Query(ctx, `SELECT usename, count(*) FROM pg_stat_activity WHERE datname = $1 GROUP BY usename`, dbName)
	if err != nil {
		t.Fatal(err)
	}
	users, err := pgx.CollectRows(rows, pgx.RowToMap)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || users[0]["usename"] != config.AppRole {
		t.Fatalf("the daemon's connections log in as %v, want only %s", users, config.AppRole)
	}

	cfg := config.FromEnv(func(k string) string { return d.Env[k] })
	app, err := pgx.Connect(ctx, cfg.AppDatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)
	var n int
	if err := app.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil || n == 0 {
		t.Fatalf("the app role reads %d events, err %v", n, err)
	}
	for _, stmt := range []string{
		"ALTER TABLE events DISABLE TRIGGER ALL",
		"SET session_replication_role = replica",
		"UPDATE events SET type = 'forged' WHERE position = 1",
		"DELETE FROM events WHERE position = 1",
		"TRUNCATE events",
		"ALTER TABLE events RENAME TO events_old",
		"DROP TABLE events",
		"DROP TRIGGER events_no_update_delete ON events",
		"CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
		"SET ROLE postgres",
		"ALTER ROLE " + config.AppRole + " SUPERUSER",
	} {
		_, err := app.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" { // insufficient_privilege
			t.Errorf("%s as %s: err = %v, want insufficient_privilege", stmt, config.AppRole, err)
		}
	}

	if err := dbsetup.CheckRole(ctx, app); err != nil {
		t.Errorf("CheckRole(app) = %v", err)
	}

	// The projections rebuild and verify as the app role (the CLI connects
	// as the daemon does), and the daemon keeps projecting afterwards.
	if out, err := cli(t, d, "rebuild", "attribution"); err != nil {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	var owner string
	if err := app.QueryRow(ctx, "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'proj_attribution'").Scan(&owner); err != nil || owner != config.AppRole {
		t.Fatalf("proj_attribution owned by %q (err %v), want %s", owner, err, config.AppRole)
	}
	pos = post(t, d, admin, "/v1/partners", map[string]any{"id": "var-after", "name": "After VAR", "kind": "var", "geography": "us-west"})
	getOK(t, d, admin, "/v1/partners/var-after?min_position="+pos)
	if out, err := cli(t, d, "verify", "--projections"); err != nil || !strings.Contains(out, "ok   projection attribution") {
		t.Fatalf("verify --projections: %v\n%s", err, out)
	}
}

// post sends a JSON command with extra header name/value pairs, expects 201
// and returns its position header.
func post(t *testing.T, d *daemontest.Daemon, token, path string, body any, headers ...string) string {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", d.URL+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s = %d %s", path, resp.StatusCode, out)
	}
	return resp.Header.Get("Dealcredit-Position")
}

// getOK expects 200 from path.
func getOK(t *testing.T, d *daemontest.Daemon, token, path string) {
	t.Helper()
	if resp, out := get(t, d, path, token); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d %s", path, resp.StatusCode, out)
	}
}
