// Package benchkit measures what benchmarks report beside their rates: CPU
// time of this process and of the Postgres backends serving a database,
// the process's peak resident set, the peak Go heap and the machine's load.
// CPU per unit of work is much steadier than a rate on a machine shared
// with other jobs.
package benchkit

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// StartCPU starts measuring CPU time: the returned function gives the time
// this process and the Postgres backends of pool's database (all of them
// at the end; those that ended before are missed) used since.
func StartCPU(ctx context.Context, pool *pgxpool.Pool) (func() (goCPU, pgCPU time.Duration, err error), error) {
	goStart := ProcCPU("self")
	pgStart, err := backends(ctx, pool)
	if err != nil {
		return nil, err
	}
	return func() (time.Duration, time.Duration, error) {
		now, err := backends(ctx, pool)
		if err != nil {
			return 0, 0, err
		}
		var pg time.Duration
		for pid, t := range now {
			pg += t - pgStart[pid]
		}
		return ProcCPU("self") - goStart, pg, nil
	}, nil
}

// backends returns the CPU time so far of each backend of pool's database.
func backends(ctx context.Context, pool *pgxpool.Pool) (map[int]time.Duration, error) {
	rows, err := pool.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
	if err != nil {
		return nil, fmt.Errorf("benchkit: backends: %w", err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, fmt.Errorf("benchkit: backends: %w", err)
	}
	out := map[int]time.Duration{}
	for _, pid := range pids {
		out[int(pid)] = ProcCPU(strconv.Itoa(int(pid)))
	}
	return out, nil
}

// ProcCPU returns the user and system time of process pid ("self": this
// one) from /proc (0 when unreadable), in clock ticks of 10 ms.
func ProcCPU(pid string) time.Duration {
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

// ResetPeakRSS resets the kernel's peak resident set of this process
// (Linux >= 4.0); false when it cannot.
func ResetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// PeakRSS returns VmHWM, the peak resident set since the last reset, in
// bytes (0 when unknown).
func PeakRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// SampleHeap samples HeapInuse every 10 ms until the returned function is
// called; that function returns the peak.
func SampleHeap() func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-sampled
		return peak.Load()
	}
}

// LoadAverage is the machine's 1-minute load average (0 when unknown).
func LoadAverage() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
