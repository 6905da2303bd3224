// Package proccpu measures, for benchmarks, the CPU time used by this
// process and by the Postgres backends serving its database: the work itself,
// much steadier than a rate on a machine shared with other jobs.
package proccpu

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Meter is a measurement started by Start.
type Meter struct {
	pool    *pgxpool.Pool
	goStart time.Duration
	pgStart map[int]time.Duration
}

// Start starts measuring the CPU time of this process and of the backends
// serving pool's database.
func Start(ctx context.Context, pool *pgxpool.Pool) (*Meter, error) {
	m := &Meter{pool: pool, goStart: Of("self")}
	var err error
	m.pgStart, err = backends(ctx, pool)
	return m, err
}

// Since returns the CPU time this process and the database's backends (all
// of them now; those that ended since Start are missed) used since Start.
func (m *Meter) Since(ctx context.Context) (goCPU, pgCPU time.Duration, err error) {
	now, err := backends(ctx, m.pool)
	if err != nil {
		return 0, 0, err
	}
	for pid, t := range now {
		pgCPU += t - m.pgStart[pid]
	}
	return Of("self") - m.goStart, pgCPU, nil
}

// backends returns the CPU time of each backend serving pool's database.
func backends(ctx context.Context, pool *pgxpool.Pool) (map[int]time.Duration, error) {
	rows, err := pool.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
	if err != nil {
		return nil, fmt.Errorf("proccpu: backends: %w", err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, fmt.Errorf("proccpu: backends: %w", err)
	}
	out := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		out[int(pid)] = Of(strconv.Itoa(int(pid)))
	}
	return out, nil
}

// Of returns the user and system time of process pid ("self": this one)
// from /proc (0 when unreadable), in clock ticks of 10 ms.
func Of(pid string) time.Duration {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// The fields after the command's closing parenthesis: utime and stime are
	// the 12th and 13th.
	i := strings.LastIndexByte(string(data), ')')
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}
