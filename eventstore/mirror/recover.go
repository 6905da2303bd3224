package mirror

import (
	"bytes"
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/eventstore"
)

// recoverBatch is how many mirror messages Recover writes per transaction.
const recoverBatch = 1000

// Restorer is the log as Recover needs it: its head, and a way to write
// records back verbatim (pgstore.Store.Restore).
type Restorer interface {
	eventstore.Reader
	// Restore writes recs (in position order) that continue the log's hash
	// chain, skips those the log holds identically, refuses anything else
	// with a *eventstore.ChainError, and returns how many it wrote.
	Restore(ctx context.Context, recs []eventstore.Record) (int, error)
}

// RecoverReport is the outcome of Recover.
type RecoverReport struct {
	// LogHead is the log's head before Recover.
	LogHead int64
	// MirrorHead is the mirror's last sequence.
	MirrorHead int64
	// Restored is how many events were written back into the log.
	Restored int64
}

// Recover brings back into the log the events the mirror holds beyond the
// log's head, e.g. those a failover to an asynchronous standby lost: it
// reads the mirror from the log's head on, and hands the records to
// log.Restore, which checks that they continue the log's hash chain and
// writes them with their original ids, positions, times and hashes. A
// mirror that disagrees with the log (the new primary already appended
// other events at those positions) is refused with a *eventstore.ChainError
// naming the position. Running it again is a no-op.
func Recover(ctx context.Context, log Restorer, js jetstream.JetStream) (RecoverReport, error) {
	var rep RecoverReport
	head, err := log.Head(ctx)
	if err != nil {
		return rep, fmt.Errorf("mirror: recover: log head: %w", err)
	}
	rep.LogHead = head
	stream, last, err := openMirror(ctx, js)
	if err != nil {
		return rep, fmt.Errorf("mirror: recover: %w", err)
	}
	if stream == nil {
		return rep, nil
	}
	rep.MirrorHead = last
	if both := min(head, last); both > 0 {
		if err := checkFork(ctx, log, stream, both); err != nil {
			return rep, err
		}
	}
	if last <= head {
		return rep, nil
	}
	// Start at the log's head, so Restore checks the mirror agrees there.
	from := max(head, 1)
	cons, err := js.OrderedConsumer(ctx, StreamName, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   uint64(from),
	})
	if err != nil {
		return rep, fmt.Errorf("mirror: recover: consumer: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(recoverBatch))
	if err != nil {
		return rep, fmt.Errorf("mirror: recover: consume: %w", err)
	}
	defer it.Stop()
	batch := make([]eventstore.Record, 0, recoverBatch)
	flush := func() error {
		n, err := log.Restore(ctx, batch)
		rep.Restored += int64(n)
		batch = batch[:0]
		if err != nil {
			return fmt.Errorf("mirror: recover: %w", err)
		}
		return nil
	}
	for pos := from; pos <= last; pos++ {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return rep, fmt.Errorf("mirror: recover: read mirror at %d: %w", pos, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return rep, fmt.Errorf("mirror: recover: message metadata at %d: %w", pos, err)
		}
		if seq := int64(md.Sequence.Stream); seq != pos {
			return rep, &eventstore.ChainError{Position: pos, Reason: fmt.Sprintf("mirror message for position %d is missing (next stream sequence is %d)", pos, seq)}
		}
		rec, err := Decode(msg.Headers(), msg.Data())
		if err != nil {
			return rep, &eventstore.ChainError{Position: pos, Reason: fmt.Sprintf("mirror message unreadable: %v", err)}
		}
		if rec.Position != pos {
			return rep, &eventstore.ChainError{Position: pos, Reason: fmt.Sprintf("mirror sequence %d carries position %d", pos, rec.Position)}
		}
		batch = append(batch, rec)
		if len(batch) == recoverBatch {
			if err := flush(); err != nil {
				return rep, err
			}
		}
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// checkFork returns a *eventstore.ChainError naming the first position
// where log and mirror hold different events, looking at positions up to
// upTo (which both hold). The hash chain makes agreement a prefix property:
// equal hashes at p mean equal records up to p, so a binary search finds it.
func checkFork(ctx context.Context, log eventstore.Reader, s jetstream.Stream, upTo int64) error {
	same := func(p int64) (bool, error) {
		mh, err := headOf(ctx, s, p)
		if err != nil {
			return false, fmt.Errorf("mirror: recover: %w", err)
		}
		recs, err := log.ReadAll(ctx, p-1, 1)
		if err != nil {
			return false, fmt.Errorf("mirror: recover: read log at %d: %w", p, err)
		}
		return len(recs) == 1 && recs[0].Position == p && bytes.Equal(recs[0].Hash, mh.Hash), nil
	}
	ok, err := same(upTo)
	if err != nil || ok {
		return err
	}
	lo, hi := int64(1), upTo // the first differing position is in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo)/2
		ok, err := same(mid)
		if err != nil {
			return err
		}
		if ok {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return &eventstore.ChainError{Position: lo, Reason: fmt.Sprintf("the log holds another event at position %d than the mirror (forked record: the database appended new events after a failover lost the mirror's)", lo)}
}
