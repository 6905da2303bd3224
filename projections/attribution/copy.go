package attribution

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ledgerCopy streams ledger rows into a COPY running on tx in its own goroutine while the
// caller keeps folding, so that the fold (Go) and the insert (Postgres) overlap. The caller
// must end it with finish or abort before it uses tx again.
type ledgerCopy struct {
	rows chan [][]any
	stop chan struct{}
	done chan error
	buf  [][]any
	err  error   // the caller's error, read by the source after stop is closed
	cur  [][]any // the source's current chunk
	i    int     // the source's index in cur
}

const copyChunk = 512

func startLedgerCopy(ctx context.Context, tx pgx.Tx) *ledgerCopy {
	c := &ledgerCopy{rows: make(chan [][]any, 4), stop: make(chan struct{}), done: make(chan error, 1),
		buf: make([][]any, 0, copyChunk)}
	c.i = -1
	go func() {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"ledger"}, ledgerColumns, (*copySource)(c))
		c.done <- err
	}()
	return c
}

// add queues one row; it returns the COPY's error when the COPY already failed.
func (c *ledgerCopy) add(row []any) error {
	c.buf = append(c.buf, row)
	if len(c.buf) < copyChunk {
		return nil
	}
	return c.flush()
}

func (c *ledgerCopy) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	select {
	case c.rows <- c.buf:
		c.buf = make([][]any, 0, copyChunk)
		return nil
	case err := <-c.done:
		c.done <- err // keep it for finish
		if err == nil {
			err = fmt.Errorf("attribution: copy ledger ended early")
		}
		return fmt.Errorf("attribution: copy ledger: %w", err)
	}
}

// finish sends the last rows and waits for the COPY to end.
func (c *ledgerCopy) finish() error {
	if err := c.flush(); err != nil {
		c.abort(err)
		return err
	}
	close(c.rows)
	if err := <-c.done; err != nil {
		return fmt.Errorf("attribution: copy ledger: %w", err)
	}
	return nil
}

// abort makes the COPY fail with err and waits for it to end.
func (c *ledgerCopy) abort(err error) {
	c.err = err
	close(c.stop)
	<-c.done
}

// copySource is the pgx.CopyFromSource side of a ledgerCopy, used by the COPY goroutine.
type copySource ledgerCopy

func (s *copySource) Next() bool {
	s.i++
	for s.i >= len(s.cur) {
		select {
		case rows, ok := <-s.rows:
			if !ok {
				return false
			}
			s.cur, s.i = rows, 0
		case <-s.stop:
			return false
		}
	}
	return true
}

func (s *copySource) Values() ([]any, error) { return s.cur[s.i], nil }

func (s *copySource) Err() error {
	select {
	case <-s.stop:
		if s.err != nil {
			return s.err
		}
		return fmt.Errorf("attribution: copy aborted")
	default:
		return nil
	}
}
