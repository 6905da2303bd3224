// Package pgcluster starts a real Postgres primary and a streaming standby
// (initdb, pg_basebackup -R) on free ports for failover tests, and fails
// them over: kill the primary, cut replication, promote the standby. When
// the test runs as root the servers run as the postgres OS user (initdb
// refuses root). Tests skip when the Postgres binaries are missing.
package pgcluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BinDir is where the Postgres 15 server binaries are looked for, unless
// PG_BINDIR is set.
const BinDir = "/usr/lib/postgresql/15/bin"

// Options configures Start.
type Options struct {
	// Synchronous makes the standby synchronous (synchronous_commit=on and
	// synchronous_standby_names='*'): a commit returns only once the
	// standby has flushed it.
	Synchronous bool
}

// Node is one Postgres server of the cluster.
type Node struct {
	Port int
	Dir  string // data directory
	Log  string // server log file
}

// Cluster is a primary and its streaming standby.
type Cluster struct {
	Primary, Standby *Node
	bin              string
	base             string
	runAs            string // OS user to run the binaries as, "" = current
}

// Start initialises a primary, takes a base backup of it as a streaming
// standby and starts both. Both are stopped (immediately) and removed at
// cleanup.
func Start(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	bin := os.Getenv("PG_BINDIR")
	if bin == "" {
		bin = BinDir
	}
	for _, b := range []string{"initdb", "pg_ctl", "pg_basebackup"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			tb.Skipf("pgcluster: Postgres binary %s not found in %s (set PG_BINDIR): %v", b, bin, err)
		}
	}
	base, err := os.MkdirTemp("", "pgcluster-")
	if err != nil {
		tb.Fatal(err)
	}
	c := &Cluster{bin: bin, base: base}
	if os.Geteuid() == 0 {
		c.runAs = "postgres"
		u, err := user.Lookup(c.runAs)
		if err != nil {
			tb.Skipf("pgcluster: running as root and there is no postgres OS user to run the servers as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(base, uid, gid); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() {
		for _, n := range []*Node{c.Primary, c.Standby} {
			if n != nil {
				_ = c.ctl("stop", "-D", n.Dir, "-m", "immediate")
			}
		}
		if !tb.Failed() {
			os.RemoveAll(base)
		} else {
			tb.Logf("pgcluster: data and logs kept in %s", base)
		}
	})

	c.Primary = &Node{Port: freePort(tb), Dir: filepath.Join(base, "primary"), Log: filepath.Join(base, "primary.log")}
	if out, err := c.command("initdb", "-D", c.Primary.Dir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C").CombinedOutput(); err != nil {
		tb.Fatalf("pgcluster: initdb: %v\n%s", err, out)
	}
	conf := []string{
		"listen_addresses = '127.0.0.1'",
		"port = " + strconv.Itoa(c.Primary.Port),
		"unix_socket_directories = '" + base + "'",
		"wal_level = replica",
		"max_wal_senders = 5",
		"hot_standby = on",
		"wal_keep_size = '256MB'",
		"fsync = on",
		"synchronous_commit = on",
		"max_connections = 100",
		"shared_buffers = '32MB'",
	}
	if opts.Synchronous {
		conf = append(conf, "synchronous_standby_names = '*'")
	}
	c.appendConf(tb, c.Primary.Dir, conf)
	c.start(tb, c.Primary)

	c.Standby = &Node{Port: freePort(tb), Dir: filepath.Join(base, "standby"), Log: filepath.Join(base, "standby.log")}
	if out, err := c.command("pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(c.Primary.Port), "-U", "postgres",
		"-D", c.Standby.Dir, "-R", "-X", "stream", "--no-sync").CombinedOutput(); err != nil {
		tb.Fatalf("pgcluster: pg_basebackup: %v\n%s", err, out)
	}
	// Promoted, the standby runs alone: it must not wait for a standby of
	// its own.
	c.appendConf(tb, c.Standby.Dir, []string{"port = " + strconv.Itoa(c.Standby.Port), "synchronous_standby_names = ''"})
	c.start(tb, c.Standby)
	c.WaitStreaming(tb)
	return c
}

// DSN returns a URL for database db naming both servers with
// target_session_attrs=read-write, as an operator's DATABASE_URL would:
// clients connect to whichever of the two is the writable primary.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/%s?sslmode=disable&target_session_attrs=read-write&connect_timeout=2",
		c.Primary.Port, c.Standby.Port, db)
}

// NodeDSN returns a DSN for database db on node n alone.
func (c *Cluster) NodeDSN(n *Node, db string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=%s sslmode=disable connect_timeout=2", n.Port, db)
}

// WaitStreaming waits until the primary reports the standby streaming (and,
// with Synchronous, in sync).
func (c *Cluster) WaitStreaming(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		err := c.query(c.Primary, "postgres", "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", &n)
		if err == nil && n == 1 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("pgcluster: standby not streaming after 30 s (count %d, err %v)", n, err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, bounded by the deadline
	}
}

// CutReplication stops the standby's WAL receiver (it clears primary_conninfo),
// so every commit from now on exists on the primary only: what an
// asynchronous standby that lags behind has when the primary dies.
func (c *Cluster) CutReplication(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.NodeDSN(c.Standby, "postgres"))
	if err != nil {
		tb.Fatalf("pgcluster: connect standby: %v", err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{"ALTER SYSTEM SET primary_conninfo = ''", "SELECT pg_reload_conf()"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			tb.Fatalf("pgcluster: %s: %v", q, err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_wal_receiver").Scan(&n); err != nil {
			tb.Fatalf("pgcluster: wal receiver: %v", err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal("pgcluster: the standby's WAL receiver still runs 10 s after primary_conninfo was cleared")
		}
		time.Sleep(20 * time.Millisecond) // polling interval, bounded by the deadline
	}
}

// KillPrimary stops the primary at once, without a shutdown checkpoint
// (pg_ctl stop -m immediate: SIGQUIT, as a crash).
func (c *Cluster) KillPrimary(tb testing.TB) {
	tb.Helper()
	if err := c.ctl("stop", "-D", c.Primary.Dir, "-m", "immediate"); err != nil {
		tb.Fatalf("pgcluster: kill primary: %v", err)
	}
}

// Promote makes the standby the primary and waits until it accepts writes.
func (c *Cluster) Promote(tb testing.TB) {
	tb.Helper()
	if err := c.ctl("promote", "-D", c.Standby.Dir, "-w", "-t", "60"); err != nil {
		tb.Fatalf("pgcluster: promote standby: %v", err)
	}
}

// Query runs a one-row query on node n's database db (e.g. on the standby,
// which is readable) and scans the row into dest.
func (c *Cluster) Query(n *Node, db, sql string, dest ...any) error {
	return c.query(n, db, sql, dest...)
}

// Exec runs sql (one or more statements) on node n's database db.
func (c *Cluster) Exec(n *Node, db, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.NodeDSN(n, db))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func (c *Cluster) query(n *Node, db, sql string, dest ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.NodeDSN(n, db))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql).Scan(dest...)
}

func (c *Cluster) start(tb testing.TB, n *Node) {
	tb.Helper()
	if err := c.ctl("start", "-D", n.Dir, "-l", n.Log, "-w", "-t", "60"); err != nil {
		log, _ := os.ReadFile(n.Log)
		tb.Fatalf("pgcluster: start %s: %v\n%s", n.Dir, err, log)
	}
}

func (c *Cluster) ctl(args ...string) error {
	out, err := c.command("pg_ctl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// command runs a Postgres binary, as the postgres OS user when root.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	var cmd *exec.Cmd
	if c.runAs != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = c.base
	return cmd
}

func (c *Cluster) appendConf(tb testing.TB, dir string, lines []string) {
	tb.Helper()
	path := filepath.Join(dir, "postgresql.conf")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		tb.Fatalf("pgcluster: %v", err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n" + strings.Join(lines, "\n") + "\n"); err != nil {
		tb.Fatalf("pgcluster: %v", err)
	}
}

// freePort returns a TCP port nobody listens on right now.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
