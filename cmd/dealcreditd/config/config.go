// Package config reads dealcredit's configuration (CONTRACT "Configuration"):
// environment first, flags override. Both commands share it; packages below
// cmd receive plain values, never the environment.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// Defaults from the contract.
const (
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/dealcredit?sslmode=disable"
	DefaultDataDir     = "./data"
	DefaultHTTPAddr    = "127.0.0.1:8080"
	// DefaultEmbeddedNATSAddr is where the embedded JetStream server listens.
	// It is not 4222 so that it never collides with a NATS server already
	// running on the machine; the CLI connects here when NATS_URL is unset.
	DefaultEmbeddedNATSAddr = "127.0.0.1:4223"
	// DefaultStreamMaxBytes is the size limit of each OEM invoice stream and
	// of the dead-letter stream: 256 MiB, about 250,000 invoices of 1 KiB.
	DefaultStreamMaxBytes = 256 << 20
	// MinStreamMaxBytes is the smallest stream size limit: two messages of
	// the largest size an OEM may send.
	MinStreamMaxBytes = 2 << 20
)

// Config is the validated configuration of the daemon and the CLI.
type Config struct {
	// MigrationDatabaseURL (DATABASE_MIGRATION_URL) is the owner role's
	// DSN that creates and migrates the database. Empty: DatabaseURL
	// migrates, and the daemon then serves as AppRole (see AppDatabaseURL).
	MigrationDatabaseURL string

	DatabaseURL string // DATABASE_URL
	NATSURL     string // NATS_URL; empty = embedded JetStream
	DataDir     string // DEALCREDIT_DATA_DIR
	HTTPAddr    string // DEALCREDIT_HTTP_ADDR
	TokensFile  string // DEALCREDIT_TOKENS_FILE; default <DataDir>/tokens.json
	// EmbeddedNATSAddr is the listen address of the embedded JetStream
	// server (DEALCREDIT_EMBEDDED_NATS_ADDR), used when NATSURL is empty.
	EmbeddedNATSAddr string
	// StreamReplicas is the JetStream replica count for the streams the
	// daemon creates (DEALCREDIT_STREAM_REPLICAS, default 1; 3 on a cluster).
	StreamReplicas int
	// StreamMaxBytes is the size limit of each OEM invoice stream and of
	// the dead-letter stream (DEALCREDIT_STREAM_MAX_BYTES, bytes or a
	// number with KiB, MiB or GiB). JetStream reserves it in its store for
	// every such stream.
	StreamMaxBytes int64
	// NATSUser and NATSPassword (NATS_USER, NATS_PASSWORD) authenticate to
	// NATS_URL; NATSCreds (NATS_CREDS) is a .creds file (JWT and NKey)
	// instead. All empty: user:password in NATS_URL, or for the embedded
	// server its generated credentials (EmbeddedNATSCredentialsFile).
	NATSUser     string
	NATSPassword string
	NATSCreds    string
}

// EmbeddedNATSCredentialsFileName is the file in the data directory where
// the embedded NATS server keeps its generated users and passwords.
const EmbeddedNATSCredentialsFileName = "nats-credentials.json"

// EmbeddedNATSCredentialsFile is the path of the embedded server's
// generated credentials, beside the generated API tokens.
func (c Config) EmbeddedNATSCredentialsFile() string {
	return filepath.Join(c.DataDir, EmbeddedNATSCredentialsFileName)
}

// FromEnv reads the environment through getenv and fills in defaults.
// Call Validate after applying flags.
func FromEnv(getenv func(string) string) Config {
	c := Config{
		DatabaseURL: getenv("DATABASE_URL"),
		NATSURL:     getenv("NATS_URL"),
		DataDir:     getenv("DEALCREDIT_DATA_DIR"),
		HTTPAddr:    getenv("DEALCREDIT_HTTP_ADDR"),
		TokensFile:  getenv("DEALCREDIT_TOKENS_FILE"),

		EmbeddedNATSAddr: getenv("DEALCREDIT_EMBEDDED_NATS_ADDR"),

		NATSUser:     getenv("NATS_USER"),
		NATSPassword: getenv("NATS_PASSWORD"),
		NATSCreds:    getenv("NATS_CREDS"),
	}
	c.MigrationDatabaseURL = getenv("DATABASE_MIGRATION_URL")
	if c.EmbeddedNATSAddr == "" {
		c.EmbeddedNATSAddr = DefaultEmbeddedNATSAddr
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = DefaultDatabaseURL
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	c.StreamMaxBytes = DefaultStreamMaxBytes
	if v := getenv("DEALCREDIT_STREAM_MAX_BYTES"); v != "" {
		n, err := ParseBytes(v)
		if err != nil {
			n = -1 // reported by Validate
		}
		c.StreamMaxBytes = n
	}
	c.StreamReplicas = 1
	if v := getenv("DEALCREDIT_STREAM_REPLICAS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			n = -1 // reported by Validate
		}
		c.StreamReplicas = n
	}
	return c
}

// AppRole is the Postgres role the daemon serves with: it may select and
// insert into the event log, never change or remove an event. Migrations
// create it; the owner role (the migration DSN's user) owns the log.
const AppRole = "dealcredit_app"

// OwnerDatabaseURL is the DSN that creates and migrates the database:
// DATABASE_MIGRATION_URL, else DATABASE_URL.
func (c Config) OwnerDatabaseURL() string {
	if c.MigrationDatabaseURL != "" {
		return c.MigrationDatabaseURL
	}
	return c.DatabaseURL
}

// AppDatabaseURL is the DSN the daemon and the CLI's log and read-model
// commands connect with. With DATABASE_MIGRATION_URL set it is DATABASE_URL
// as given (which should log in as AppRole). Without it, DATABASE_URL is
// the owner's DSN, and this is the same server and database logged in as
// AppRole without the owner's password (trust or a password file for
// AppRole; set both variables where AppRole needs its own password).
func (c Config) AppDatabaseURL() string {
	if c.MigrationDatabaseURL != "" {
		return c.DatabaseURL
	}
	return AsRole(c.DatabaseURL, AppRole)
}

// Migrates reports whether the daemon migrates at start: not when its only
// DSN logs in as AppRole, which cannot (then `dealcredit migrate` runs with
// the owner's DATABASE_MIGRATION_URL beforehand).
func (c Config) Migrates() bool {
	u, err := url.Parse(c.OwnerDatabaseURL())
	return err != nil || u.User.Username() != AppRole
}

// AsRole returns dsn (a postgres:// URL) logged in as role, without a
// password; a dsn that already logs in as role, or that does not parse
// (Validate reports it), is returned unchanged.
func AsRole(dsn, role string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User.Username() == role {
		return dsn
	}
	u.User = url.User(role)
	q := u.Query()
	if q.Has("user") || q.Has("password") {
		q.Del("user")
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// ClientNATSURL is the NATS server a client command talks to: NATS_URL, or
// the daemon's embedded server when it is unset.
func (c Config) ClientNATSURL() string {
	if c.NATSURL != "" {
		return c.NATSURL
	}
	return "nats://" + c.EmbeddedNATSAddr
}

// validateDSN checks that dsn is a postgres URL naming a database; the
// error names the variable.
func validateDSN(name, dsn string) error {
	u, err := url.Parse(dsn)
	switch {
	case err != nil:
		// url.Parse's error quotes the whole URL, password included.
		return fmt.Errorf("%s: %s is not a URL like postgres://user:password@host:5432/dealcredit", name, Redact(dsn))
	case u.Scheme != "postgres" && u.Scheme != "postgresql":
		return fmt.Errorf("%s: scheme must be postgres or postgresql, got %q", name, u.Scheme)
	case strings.Trim(u.Path, "/") == "":
		return fmt.Errorf("%s: must name a database, e.g. .../dealcredit", name)
	}
	return nil
}

// Validate checks every field and fills TokensFile's default; the error
// names the variable at fault.
func (c *Config) Validate() error {
	var errs []error
	errs = append(errs, validateDSN("DATABASE_URL", c.DatabaseURL))
	if c.MigrationDatabaseURL != "" {
		errs = append(errs, validateDSN("DATABASE_MIGRATION_URL", c.MigrationDatabaseURL))
	}
	if c.NATSURL != "" {
		for _, s := range strings.Split(c.NATSURL, ",") {
			if nu, err := url.Parse(strings.TrimSpace(s)); err != nil || nu.Host == "" {
				errs = append(errs, fmt.Errorf("NATS_URL: %q is not a URL like nats://host:4222", Redact(s)))
			}
		}
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("DEALCREDIT_HTTP_ADDR: %w", err))
	}
	if _, _, err := net.SplitHostPort(c.EmbeddedNATSAddr); err != nil {
		errs = append(errs, fmt.Errorf("DEALCREDIT_EMBEDDED_NATS_ADDR: %w", err))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("DEALCREDIT_DATA_DIR: must not be empty"))
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		errs = append(errs, errors.New("DEALCREDIT_STREAM_REPLICAS: must be an integer from 1 to 5"))
	}
	if c.StreamMaxBytes < MinStreamMaxBytes {
		errs = append(errs, fmt.Errorf("DEALCREDIT_STREAM_MAX_BYTES: must be at least 2MiB, as bytes or with KiB, MiB or GiB (e.g. 256MiB)"))
	}
	if c.NATSCreds != "" && c.NATSUser != "" {
		errs = append(errs, errors.New("NATS_CREDS and NATS_USER: set one, not both"))
	}
	if (c.NATSUser == "") != (c.NATSPassword == "") {
		errs = append(errs, errors.New("NATS_USER and NATS_PASSWORD: set both or neither"))
	}
	if c.TokensFile == "" {
		c.TokensFile = filepath.Join(c.DataDir, "tokens.json")
	}
	return errors.Join(errs...)
}

// ParseBytes reads a size: a whole number of bytes, or one followed by
// KiB, MiB or GiB (e.g. 256MiB).
func ParseBytes(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: want bytes or a number with KiB, MiB or GiB", s)
	}
	return n * mult, nil
}
