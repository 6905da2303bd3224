// Package pgpipe sends the read queries of concurrent callers to Postgres
// together: the queries that wait while earlier ones are in flight go out
// as one pipeline (one write, one round trip, no idle backend woken per
// query), each still its own statement with its own snapshot.
//
// Postgres runs a pipeline's statements one after the other, so a query
// waits for every query sent before it in its pipeline, and a query that
// waits for a pipeline waits for the ones in flight. Queries whose work is
// small and bounded share one Pipe; queries that may be large (many rows)
// belong in a Pipe of their own, where they hold up only each other.
package pgpipe

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MaxBatch bounds the queries of one pipeline.
const MaxBatch = 64

// Pipe runs read queries on a pool. A query whose caller finds fewer than
// its in-flight limit of pipelines running is sent at once, alone, as
// pgxpool.Pool.Query would send it; the others wait for a running pipeline
// to end and go out together in the next one. Every query is sent after
// its caller called Query, so its answer reflects the database as it was
// then or later, never an earlier answer: nothing is cached or shared
// between callers.
type Pipe struct {
	pool     *pgxpool.Pool
	inFlight int

	mu      sync.Mutex
	running int     // pipelines (or lone queries) in flight
	queue   []*call // queries waiting for the next pipeline
}

// New returns a Pipe on pool that runs as many pipelines at once as Go
// runs goroutines in parallel (GOMAXPROCS), two at least: enough to keep
// the cores busy, few enough that the queries waiting meanwhile share
// round trips (on 2 cores, 4 in flight cost 97-120 us of Postgres CPU
// per statement read in BenchmarkReadLoad, 2 in flight 49-95 us).
func New(pool *pgxpool.Pool) *Pipe {
	return &Pipe{pool: pool, inFlight: max(2, runtime.GOMAXPROCS(0))}
}

// call is one caller's query.
type call struct {
	ctx  context.Context
	sql  string
	args []any
	read func(pgx.Rows) error
	err  error
	// done receives true when the caller is to lead the next pipeline
	// (its call in it), false when another caller's pipeline ran it.
	done chan bool
}

// Query runs sql with args and passes its rows to read, which reads them
// (rows.Next, rows.Scan) and returns an error to fail the query; the rows
// are closed after read returns. It returns read's error, else the
// query's. read may run on another caller's goroutine, but Query returns
// only after read returned (and is never called twice for one query):
// what read writes to is the caller's again when Query returns. A query
// that is cancelled while it is in a pipeline with others runs on until
// every query of that pipeline is cancelled or done.
func (p *Pipe) Query(ctx context.Context, sql string, args []any, read func(pgx.Rows) error) error {
	c := &call{ctx: ctx, sql: sql, args: args, read: read}
	p.mu.Lock()
	if p.running < p.inFlight {
		p.running++
		p.mu.Unlock()
		p.lead(c)
		return c.err
	}
	c.done = make(chan bool, 1)
	p.queue = append(p.queue, c)
	p.mu.Unlock()
	if <-c.done {
		p.lead(c)
	}
	return c.err
}

// lead runs c and the queries waiting behind it (MaxBatch at most), then
// hands the lead to the first query still waiting, or ends.
func (p *Pipe) lead(c *call) {
	p.mu.Lock()
	n := min(len(p.queue), MaxBatch-1)
	batch := append(make([]*call, 0, n+1), c)
	batch = append(batch, p.queue[:n]...)
	p.queue = p.queue[n:]
	p.mu.Unlock()

	p.run(batch)
	for _, w := range batch[1:] {
		w.done <- false
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		p.running--
		p.queue = nil // let a long queue's array go
		return
	}
	next := p.queue[0]
	p.queue = p.queue[1:]
	next.done <- true
}

// run runs every call of batch and sets its err: alone as a lone query,
// together as one pipeline. A call whose context ended before it was sent
// fails with the context's error.
func (p *Pipe) run(batch []*call) {
	live := batch[:0:0]
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.err = err
			continue
		}
		live = append(live, c)
	}
	switch len(live) {
	case 0:
	case 1:
		live[0].err = p.alone(live[0])
	default:
		p.pipeline(live)
	}
}

// alone runs c on its own, as pgxpool.Pool.Query does.
func (p *Pipe) alone(c *call) error {
	rows, err := p.pool.Query(c.ctx, c.sql, c.args...)
	if err != nil {
		return err
	}
	return readRows(rows, c.read)
}

// pipeline sends calls as one pipeline and reads their answers in order.
// The pipeline's statements run in one implicit transaction, so after a
// call fails the others are not read from it but run alone, each failing
// or succeeding as it would have on its own. A call whose answer could not
// be had at all (no row passed to read: a statement of the pipeline that
// failed to prepare, a connection that failed) runs alone too; a call whose
// rows failed keeps its error.
func (p *Pipe) pipeline(calls []*call) {
	ctx, stop := allDone(calls)
	defer stop()
	var b pgx.Batch
	for _, c := range calls {
		b.Queue(c.sql, c.args...)
	}
	br := p.pool.SendBatch(ctx, &b)
	alone := len(calls)
	for i, c := range calls {
		rows, err := br.Query()
		if err != nil {
			alone = i
			break
		}
		if c.err = readRows(rows, c.read); c.err != nil {
			alone = i + 1
			break
		}
	}
	_ = br.Close() // each call's own error is kept above
	for _, c := range calls[alone:] {
		c.err = p.alone(c)
	}
}

// readRows passes rows to read and closes them: read's error, else the
// rows'.
func readRows(rows pgx.Rows, read func(pgx.Rows) error) error {
	defer rows.Close()
	if err := read(rows); err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}

// allDone returns a context that is cancelled once the context of every
// call is done (a pipeline runs while any of its callers waits for it),
// and a function that releases it.
func allDone(calls []*call) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var left atomic.Int64
	left.Store(int64(len(calls)))
	stops := make([]func() bool, len(calls))
	for i, c := range calls {
		stops[i] = context.AfterFunc(c.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, s := range stops {
			s()
		}
		cancel()
	}
}
