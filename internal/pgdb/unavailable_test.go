package pgdb_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"dealcredit/internal/pgdb"
)

func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	// A real refused connection: nothing listens on port 1.
	_, refused := pgconn.Connect(ctx, "postgres://postgres@127.0.0.1:1/x?connect_timeout=2")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", fmt.Errorf("read: %w", refused), true},
		{"terminated by an administrator", &pgconn.PgError{Code: "57P01"}, true},
		{"connection failure", fmt.Errorf("x: %w", &pgconn.PgError{Code: "08006"}), true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"read-only standby", &pgconn.PgError{Code: "25006"}, true},
		{"closed mid-exchange", fmt.Errorf("x: %w", io.ErrUnexpectedEOF), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"invalid text", &pgconn.PgError{Code: "22021"}, false},
		{"cancelled by the caller", context.Canceled, false},
		{"anything else", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pgdb.Unavailable(tt.err); got != tt.want {
				t.Fatalf("Unavailable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
