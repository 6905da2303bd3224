package pgdb

import (
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Unavailable reports whether err says Postgres cannot be reached or is
// going away, rather than that the statement was wrong: the server cannot
// be reached or refuses connections, the connection broke, timed out or
// was terminated, the server is shutting down or starting, has no
// connection slot left, or is a read-only standby (a failover in
// progress). The API answers these with 503 and Retry-After.
func Unavailable(err error) bool {
	var (
		connectErr *pgconn.ConnectError
		pgErr      *pgconn.PgError
		netErr     net.Error
	)
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr):
		return true // whatever the server said while refusing the connection
	case errors.As(err, &pgErr):
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
			"53300", // too_many_connections
			"25006": // read_only_sql_transaction
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08") // connection_exception
	case pgconn.SafeToRetry(err), pgconn.Timeout(err):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true // the connection closed mid-exchange
	}
	return false
}
