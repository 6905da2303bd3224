// Package pgtest gives tests a fresh, uniquely named Postgres database that is
// dropped when the test ends. It talks to the real server named by
// DEALCREDIT_TEST_DATABASE_URL (default: the local trust-auth server).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultAdminURL is the maintenance database used to create and drop test databases.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL returns the DSN of the maintenance database.
func AdminURL() string {
	if u := os.Getenv("DEALCREDIT_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultAdminURL
}

// NewDatabase creates an empty database with a unique name and returns its DSN.
// The database is dropped (with its connections terminated) in tb.Cleanup.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	dsn, name := newName(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		tb.Fatalf("pgtest: connect to %s: %v (is Postgres running? make test starts it)", AdminURL(), err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	return dsn
}

// MissingDatabase returns the DSN of a uniquely named database that does not
// exist yet, for code that must create it; it is dropped in tb.Cleanup if
// it was created.
func MissingDatabase(tb testing.TB) string {
	tb.Helper()
	dsn, _ := newName(tb)
	return dsn
}

// newName picks a unique database name, registers its drop and returns its DSN.
func newName(tb testing.TB) (dsn, name string) {
	tb.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("pgtest: random name: %v", err)
	}
	// At most 7 + 30 + 1 + 12 = 50 bytes: within Postgres' 63-byte names.
	name = "dctest_" + strings.ToLower(sanitize(tb.Name())) + "_" + hex.EncodeToString(b[:])
	tb.Cleanup(func() { drop(tb, name) })
	u, err := url.Parse(AdminURL())
	if err != nil {
		tb.Fatalf("pgtest: parse admin url: %v", err)
	}
	u.Path = "/" + name
	return u.String(), name
}

func drop(tb testing.TB, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		tb.Errorf("pgtest: connect to drop %s: %v", name, err)
		return
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		tb.Errorf("pgtest: drop database %s: %v", name, err)
	}
}

func sanitize(s string) string {
	var sb strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			sb.WriteRune(r)
		default:
			sb.WriteByte('_')
		}
	}
	out := sb.String()
	if len(out) > 30 {
		out = out[:30]
	}
	return out
}
