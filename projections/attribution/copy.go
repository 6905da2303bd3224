package attribution

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ledgerCopy streams ledger rows, encoded in COPY's binary format as they are
// folded (ledgerTuples), into a COPY running on tx's connection in its own
// goroutine while the caller keeps folding, so that the fold (Go) and the
// insert (Postgres) overlap. The caller must end it with finish or abort
// before it uses tx again.
type ledgerCopy struct {
	chunks chan []byte // full chunks, to the COPY
	free   chan []byte // chunks the COPY has sent, for reuse
	stop   chan struct{}
	done   chan error
	buf    []byte
	err    error  // the caller's error, read by the reader after stop is closed
	cur    []byte // the reader's current chunk (what is left of it)
	whole  []byte // cur before it was read from, handed back to free
}

// copyChunk is the size at which a chunk of encoded rows goes to the COPY.
const copyChunk = 64 << 10

// copyLedgerSQL is the COPY statement of the ledger's columns in the binary
// format; the table is found through the search_path (a build's schema).
var copyLedgerSQL = "COPY " + pgx.Identifier{"ledger"}.Sanitize() + " (" + strings.Join(ledgerColumns, ", ") +
	") FROM STDIN (FORMAT binary)"

func startLedgerCopy(ctx context.Context, tx pgx.Tx) *ledgerCopy {
	c := &ledgerCopy{chunks: make(chan []byte, 4), free: make(chan []byte, 6), stop: make(chan struct{}), done: make(chan error, 1)}
	c.buf = append(make([]byte, 0, copyChunk+copyChunk/8), copyHeader...)
	conn := tx.Conn().PgConn()
	go func() {
		_, err := conn.CopyFrom(ctx, (*copyReader)(c), copyLedgerSQL)
		c.done <- err
	}()
	return c
}

// add queues one encoded row; it returns the COPY's error when the COPY
// already failed.
func (c *ledgerCopy) add(tuple []byte) error {
	c.buf = append(c.buf, tuple...)
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
	case c.chunks <- c.buf:
		select {
		case b := <-c.free:
			c.buf = b[:0]
		default:
			c.buf = make([]byte, 0, copyChunk+copyChunk/8)
		}
		return nil
	case err := <-c.done:
		c.done <- err // keep it for finish
		if err == nil {
			err = fmt.Errorf("attribution: copy ledger ended early")
		}
		return fmt.Errorf("attribution: copy ledger: %w", err)
	}
}

// finish sends the last rows and the trailer and waits for the COPY to end.
func (c *ledgerCopy) finish() error {
	c.buf = append(c.buf, copyTrailer...)
	if err := c.flush(); err != nil {
		c.abort(err)
		return err
	}
	close(c.chunks)
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

// copyReader is the io.Reader side of a ledgerCopy, read by the COPY goroutine.
type copyReader ledgerCopy

func (r *copyReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.whole != nil {
			select {
			case r.free <- r.whole:
			default:
			}
			r.whole = nil
		}
		select {
		case b, ok := <-r.chunks:
			if !ok {
				return 0, io.EOF
			}
			r.cur, r.whole = b, b
		case <-r.stop:
			if r.err != nil {
				return 0, r.err
			}
			return 0, fmt.Errorf("attribution: copy aborted")
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// copyLedger writes tuples (rows of ledgerTuples, without header and trailer)
// into the ledger through tx with one COPY.
func copyLedger(ctx context.Context, tx pgx.Tx, tuples []byte) error {
	r := io.MultiReader(bytes.NewReader(copyHeader), bytes.NewReader(tuples), bytes.NewReader(copyTrailer))
	_, err := tx.Conn().PgConn().CopyFrom(ctx, r, copyLedgerSQL)
	return err
}
