package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/consumers/oemfeed"
	"dealcredit/domain"
	"dealcredit/eventstore"
	"dealcredit/internal/backoff"
)

// item is one message of a batch and what became of it.
type item struct {
	msg     jetstream.Msg
	seq     uint64
	inv     domain.InvoiceReceived
	id      uuid.UUID
	data    []byte
	ver     int                        // the schema version of data, as domain.Encode wrote it
	req     []eventstore.AppendRequest // its unit: the invoice, or the rejection fact of a dead letter
	reason  string                     // set when the message is dead-lettered
	outcome string
	unit    int // index of its unit in the AppendEach call, -1 for none
	dupOf   int // index of an earlier item with the same event id and content, -1 for none
	retry   bool
	// again: a dead letter whose rejection fact was already stored, a
	// redelivery of one handled before; it is dead-lettered again (the
	// dead-letter stream drops the copy) but counted and logged once.
	again bool
	// noMetadata: the message's JetStream metadata was unreadable; it is
	// neither stored nor dead-lettered, only redelivered.
	noMetadata bool
}

// committed is a batch whose appends returned, ready to be acknowledged.
type committed struct {
	items []*item
	// position and id are the batch's highest appended event (new or found
	// already stored), which must be in the mirror before any ack; 0 for none.
	position int64
	id       uuid.UUID
}

// note records the stored events of a unit's results.
func (cb *committed) note(r eventstore.UnitResult) {
	if r.Err != nil {
		return
	}
	for _, ar := range r.Results {
		for _, rec := range ar.Records {
			if rec.Position > cb.position {
				cb.position, cb.id = rec.Position, rec.ID
			}
		}
	}
}

// session consumes oem over one pull subscription until ctx ends or a
// failure needs a new subscription.
//
// It is a pipeline of four stages joined by small bounded channels, so that
// batch N+2 is collected and N+1 decoded while N commits and N-1 is
// acknowledged:
//
//	collect (this goroutine) -> decode (parallel workers) -> commit -> acknowledge
//
// Only the commit stage writes to Postgres, and only the acknowledge stage
// acknowledges, after the commit of the batch's messages returned. A
// crash (an injected fault, or a failed acknowledgement that must stop the
// session) cancels sctx with its cause: every stage then drops what it holds
// without acknowledging it, as a dying process would. A graceful stop (ctx
// ends) commits and acknowledges the batches already collected and hands
// the messages not yet collected back (Nak).
func (c *Consumer) session(ctx context.Context, oem string, b *backoff.Backoff) error {
	cons, err := c.js.Consumer(ctx, StreamName(oem), c.opts.Durable)
	if err != nil {
		return fmt.Errorf("ingest: consumer %s: %w", StreamName(oem), err)
	}
	sctx, kill := context.WithCancelCause(ctx)
	defer kill(nil)
	crashed := func() bool {
		cause := context.Cause(sctx)
		return cause != nil && !errors.Is(cause, context.Canceled)
	}
	sub, err := c.subscribe(cons, oem)
	if err != nil {
		return err
	}
	cctx, stopCollect := context.WithCancel(sctx)
	defer stopCollect()
	ended := sub.watchEnd(cctx, stopCollect)

	raw := make(chan []jetstream.Msg, 1)
	wait := c.startStages(sctx, oem, b, raw, crashed, kill)
	// Collect stage.
	for {
		batch := c.collect(cctx, sub.msgs)
		if batch == nil {
			break
		}
		raw <- batch
	}
	close(raw)
	loopErr := wait()
	if loopErr == nil && crashed() {
		loopErr = context.Cause(sctx)
	}
	var fe *faultError
	if errors.As(loopErr, &fe) {
		close(sub.stopping)
		sub.cc.Stop() // a crash: what the subscription holds is dropped
		return loopErr
	}
	c.handBack(oem, sub)
	if loopErr == nil && ended.Load() && ctx.Err() == nil {
		loopErr = errors.New("ingest: pull subscription ended")
	}
	return loopErr
}

// subscription is a session's pull subscription: the messages it delivers
// wait in msgs for the collect stage. Once stopping is closed, a delivered
// message is dropped (a crash) or handed back (graceful).
type subscription struct {
	cc       jetstream.ConsumeContext
	closed   <-chan struct{}
	msgs     chan jetstream.Msg
	stopping chan struct{}
	graceful atomic.Bool
}

// subscribe starts pulling oem's messages, a batch at a time.
func (c *Consumer) subscribe(cons jetstream.Consumer, oem string) (*subscription, error) {
	sub := &subscription{msgs: make(chan jetstream.Msg, c.opts.BatchSize), stopping: make(chan struct{})}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case sub.msgs <- m:
		case <-sub.stopping:
			if sub.graceful.Load() {
				_ = m.Nak() // hand it straight to a competing consumer
			}
		}
	}, jetstream.PullMaxMessages(c.opts.BatchSize),
		jetstream.PullExpiry(c.opts.PullExpiry), jetstream.PullHeartbeat(c.opts.PullExpiry/5),
		jetstream.ConsumeErrHandler(func(cc jetstream.ConsumeContext, err error) {
			c.log.Debug("ingest: pull", "oem", oem, "err", err)
			if errors.Is(err, nats.ErrNoResponders) {
				// JetStream is not there (yet): the pull request is lost
				// and would be repeated only after two heartbeats. A new
				// session pulls again as soon as it is back; what is
				// buffered is still handed to the pipeline.
				cc.Drain()
			}
		}))
	if err != nil {
		return nil, fmt.Errorf("ingest: consume %s: %w", StreamName(oem), err)
	}
	sub.cc, sub.closed = cc, cc.Closed()
	return sub, nil
}

// watchEnd calls stop when the pull subscription ends by itself on a
// terminal error (the consumer deleted, the connection closed), before ctx
// ends: the collect stage then stops as on a graceful stop and the session
// returns, so that work starts a new one instead of waiting for messages
// that never come. The flag it returns tells whether that happened.
func (sub *subscription) watchEnd(ctx context.Context, stop context.CancelFunc) *atomic.Bool {
	var ended atomic.Bool
	go func() {
		select {
		case <-sub.closed:
			ended.Store(true)
			stop()
		case <-ctx.Done():
		}
	}()
	return &ended
}

// startStages starts the decode, commit and acknowledge stages on the
// batches the collect stage sends to raw; wait waits until they have
// finished (raw closed and drained) and returns the commit stage's error.
func (c *Consumer) startStages(sctx context.Context, oem string, b *backoff.Backoff, raw <-chan []jetstream.Msg, crashed func() bool, kill context.CancelCauseFunc) (wait func() error) {
	// While a commit runs, up to a commit's worth of batches is decoded
	// ahead, to be merged into the next commit.
	decoded := make(chan []*item, max(1, c.opts.CommitMessages/c.opts.BatchSize-1))
	acks := make(chan *committed, 1)
	go func() { // decode
		defer close(decoded)
		for batch := range raw {
			if crashed() {
				continue // a crash handles nothing more
			}
			decoded <- c.decodeAll(oem, batch)
		}
	}()
	var commitErr error
	commitDone := make(chan struct{})
	go func() { // commit
		defer close(commitDone)
		defer close(acks)
		commitErr = c.commitLoop(sctx, oem, b, decoded, acks, crashed, kill)
	}()
	ackDone := make(chan struct{})
	go func() { // acknowledge
		defer close(ackDone)
		for cb := range acks {
			if err := c.acknowledge(sctx, oem, cb); err != nil {
				kill(err)
				for range acks { // a crash acknowledges nothing more
				}
				return
			}
		}
	}()
	return func() error {
		<-commitDone
		<-ackDone
		return commitErr
	}
}

// handBack ends a session gracefully: it stops pulling and negatively
// acknowledges every message fetched but not processed (those waiting in
// msgs and those still in the subscription's buffer, which Drain hands to
// the callback), so that a competing consumer gets them at once instead of
// after AckWait.
func (c *Consumer) handBack(oem string, sub *subscription) {
	sub.graceful.Store(true)
	close(sub.stopping)
	sub.cc.Drain()
	t := time.NewTimer(2 * time.Second) // a drain needs the server; do not wait for ever without one
	select {
	case <-sub.closed:
	case <-t.C:
		sub.cc.Stop()
	}
	t.Stop()
	for {
		select {
		case m := <-sub.msgs:
			_ = m.Nak()
			continue
		default:
		}
		break
	}
	fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.js.Conn().FlushWithContext(fctx); err != nil {
		c.log.Debug("ingest: flush of the hand-back failed; those messages come back after AckWait", "oem", oem, "err", err)
	}
}

// commitLoop is the commit stage: it takes the decoded batches, merges the
// ones that are ready (up to CommitMessages messages), appends them and
// hands them to the acknowledge stage. It returns an injected fault, or the
// cause of a crash it noticed; it always drains decoded.
func (c *Consumer) commitLoop(sctx context.Context, oem string, b *backoff.Backoff, decoded <-chan []*item, acks chan<- *committed, crashed func() bool, kill context.CancelCauseFunc) (err error) {
	defer func() {
		for range decoded { // what is left is dropped (crash) or handed back (stop)
		}
	}()
	for items := range decoded {
		if crashed() {
			return context.Cause(sctx)
		}
	merge:
		for len(items) < c.opts.CommitMessages {
			select {
			case more, ok := <-decoded:
				if !ok {
					break merge
				}
				items = append(items, more...)
			default:
				break merge
			}
		}
		if sctx.Err() != nil && !crashed() {
			// Stopping: the batches still in the pipeline join this last
			// commit, so a graceful stop needs one commit, not several.
			items = c.takeRest(items, decoded)
		}
		// A graceful stop finishes the batches it has collected.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(sctx), c.opts.StopTimeout)
		cb, err := c.process(pctx, oem, items)
		cancel()
		if crashed() {
			return context.Cause(sctx) // killed by the acknowledger
		}
		var fe *faultError
		if errors.As(err, &fe) {
			kill(err)
			return err
		}
		if err != nil {
			delay := b.Next()
			c.log.Warn("ingest: batch not committed, retrying", "oem", oem, "messages", len(items), "retry_in", delay, "err", err)
			for _, it := range items {
				_ = it.msg.NakWithDelay(delay)
			}
			_ = backoff.Sleep(sctx, delay) // the loop ends on sctx
			continue
		}
		b.Reset()
		acks <- cb
	}
	return nil
}

// takeRest appends every batch already waiting in decoded to items.
func (c *Consumer) takeRest(items []*item, decoded <-chan []*item) []*item {
	for {
		select {
		case more, ok := <-decoded:
			if !ok {
				return items
			}
			items = append(items, more...)
		default:
			return items
		}
	}
}

// collect waits for a first message, then takes what is available up to a
// batch, lingering briefly for more. It returns nil when ctx ends.
func (c *Consumer) collect(ctx context.Context, msgs <-chan jetstream.Msg) []jetstream.Msg {
	var batch []jetstream.Msg
	select {
	case m := <-msgs:
		batch = append(make([]jetstream.Msg, 0, c.opts.BatchSize), m)
	case <-ctx.Done():
		return nil
	}
	var linger <-chan time.Time
	for len(batch) < c.opts.BatchSize {
		select {
		case m := <-msgs:
			batch = append(batch, m)
			continue
		default:
		}
		if linger == nil {
			t := time.NewTimer(c.opts.Linger)
			defer t.Stop()
			linger = t.C
		}
		select {
		case m := <-msgs:
			batch = append(batch, m)
		case <-linger:
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}

// decodeAll decodes a batch on up to DecodeWorkers goroutines. Each item
// gets its unit: the invoice, or the rejection fact when it can never be
// valid.
func (c *Consumer) decodeAll(oem string, batch []jetstream.Msg) []*item {
	items := make([]*item, len(batch))
	all := make([]item, len(batch)) // one allocation for the batch, not one a message
	units := newUnitSlab(oem, len(batch))
	one := func(i int) {
		m := batch[i]
		it := &all[i]
		*it = item{msg: m, unit: -1, dupOf: -1}
		items[i] = it
		md, err := m.Metadata()
		if err != nil {
			// Without its stream sequence the message cannot get its own
			// rejection fact id; leave it to redelivery.
			it.noMetadata = true
			return
		}
		it.seq = md.Sequence.Stream
		if err := c.decode(oem, m.Subject(), m.Data(), it); err != nil {
			it.reason = err.Error()
			it.outcome = OutcomeRejected
			it.req = c.rejectionUnit(oem, it)
			return
		}
		it.req = units.invoiceUnit(i, oem, it)
	}
	workers := min(c.opts.DecodeWorkers, (len(batch)+minPerWorker-1)/minPerWorker)
	if workers <= 1 {
		for i := range batch {
			one(i)
		}
		return items
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(batch) {
					return
				}
				one(i)
			}
		})
	}
	wg.Wait()
	return items
}

// unitSlab holds the append requests of a batch's invoices: two
// allocations for the batch instead of two a message, and the metadata
// strings they all share.
type unitSlab struct {
	actor, source string
	reqs          []eventstore.AppendRequest
	events        []eventstore.Event
}

// newUnitSlab returns the slab of a batch of n messages of oem.
func newUnitSlab(oem string, n int) *unitSlab {
	return &unitSlab{actor: "oem:" + oem, source: oemfeed.Subject(oem),
		reqs: make([]eventstore.AppendRequest, n), events: make([]eventstore.Event, n)}
}

// invoiceUnit returns the AppendEach unit of the batch's i-th message, a
// decoded invoice. Each i is used once; the unit's slices are full, so an
// append to them copies.
func (s *unitSlab) invoiceUnit(i int, oem string, it *item) []eventstore.AppendRequest {
	expected := eventstore.Any
	if it.inv.Revision == 1 {
		expected = eventstore.NoStream // see process
	}
	s.events[i] = eventstore.Event{
		ID: it.id, Type: it.inv.EventType(), SchemaVersion: it.ver, Data: it.data,
		Metadata: eventstore.Metadata{
			CorrelationID: it.inv.NaturalKey(),
			Actor:         s.actor,
			Source:        s.source,
		},
		OccurredAt: it.inv.InvoiceDate.Time(),
	}
	s.reqs[i] = eventstore.AppendRequest{
		Stream:   domain.InvoiceStream(oem, it.inv.InvoiceNumber),
		Expected: expected,
		Events:   s.events[i : i+1 : i+1],
	}
	return s.reqs[i : i+1 : i+1]
}

// minPerWorker is the fewest messages worth a decode goroutine of their own.
const minPerWorker = 32

// process appends decoded items with one AppendEach call (plus one for the
// rejection facts of conflicting duplicates). An error means nothing of the
// items is known to be stored: the caller retries them all.
func (c *Consumer) process(ctx context.Context, oem string, items []*item) (*committed, error) {
	units := plan(items)
	if err := c.fault(FaultBeforeCommit); err != nil {
		return nil, err
	}
	start := time.Now()
	res, err := c.store.AppendEach(ctx, units)
	c.m.commit.Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, fmt.Errorf("ingest: append batch of %s: %w", oem, err)
	}
	c.m.batch.Observe(float64(len(items)))
	c.appendAfterLaterRevisions(ctx, items, res)

	cb := &committed{items: items}
	for _, r := range res {
		cb.note(r)
	}
	c.appendRejections(ctx, cb, c.settle(oem, items, res))
	settleDuplicates(items)
	if err := c.fault(FaultAfterCommit); err != nil {
		return nil, err
	}
	return cb, nil
}

// plan resets the items' outcomes and returns the AppendEach units: one per
// dead letter and one per distinct event id. A later item with the same id
// and content is a duplicate of the first (dupOf); one with other content
// waits for redelivery, when the first one's fate is known.
func plan(items []*item) [][]eventstore.AppendRequest {
	var units [][]eventstore.AppendRequest
	first := make(map[uuid.UUID]int, len(items))
	for i, it := range items {
		it.unit, it.dupOf, it.retry, it.again = -1, -1, false, false
		if it.noMetadata {
			it.retry = true
			continue
		}
		if it.outcome == OutcomeRejected {
			it.unit = len(units)
			units = append(units, it.req)
			continue
		}
		it.outcome = ""
		if j, ok := first[it.id]; ok {
			if bytes.Equal(items[j].data, it.data) {
				it.dupOf = j
			} else {
				it.retry = true // decided once the first one is stored
			}
			continue
		}
		first[it.id] = i
		it.unit = len(units)
		units = append(units, it.req)
	}
	return units
}

// appendAfterLaterRevisions appends again, with Any, the first revisions
// whose NoStream append met a stream that already holds a later revision,
// and puts their results in res. (A first revision is appended with
// NoStream so that the writer can skip reading the stream's version.)
func (c *Consumer) appendAfterLaterRevisions(ctx context.Context, items []*item, res []eventstore.UnitResult) {
	var again []*item
	var againUnits [][]eventstore.AppendRequest
	for _, it := range items {
		if it.unit < 0 {
			continue
		}
		var ce *eventstore.ConflictError
		if r := res[it.unit]; it.outcome == "" && errors.As(r.Err, &ce) && it.req[0].Expected == eventstore.NoStream {
			again = append(again, it)
			req := it.req[0]
			req.Expected = eventstore.Any
			againUnits = append(againUnits, []eventstore.AppendRequest{req})
		}
	}
	if len(again) == 0 {
		return
	}
	res2, err := c.store.AppendEach(ctx, againUnits)
	for i, it := range again {
		if err != nil {
			res[it.unit] = eventstore.UnitResult{Err: err}
		} else {
			res[it.unit] = res2[i]
		}
	}
}

// settle sets each appended item's outcome from its unit's result and
// returns the items to dead-letter for what the store refused (a
// conflicting duplicate, an invalid event), each with its rejection unit.
func (c *Consumer) settle(oem string, items []*item, res []eventstore.UnitResult) []rejection {
	var rejected []rejection
	for _, it := range items {
		if it.unit < 0 {
			continue
		}
		r := res[it.unit]
		var idc *eventstore.IDConflictError
		var inv *eventstore.InvalidError
		switch {
		case it.outcome == OutcomeRejected && r.Err == nil:
			it.again = r.Results[0].AlreadyAppended
		case it.outcome == OutcomeRejected:
			it.retry = true
		case r.Err == nil && r.Results[0].AlreadyAppended:
			it.outcome = OutcomeDuplicate
		case r.Err == nil && it.inv.Revision > 1 && r.Results[0].Records[0].StreamVersion > 1:
			it.outcome = OutcomeSuperseded
		case r.Err == nil:
			it.outcome = OutcomeAccepted
		case errors.As(r.Err, &idc):
			it.outcome = OutcomeConflict
			it.reason = fmt.Sprintf("conflicting duplicate: invoice %s revision %d of OEM %s is already stored with different content (position %d); send a higher revision to change it",
				it.inv.InvoiceNumber, it.inv.Revision, oem, idc.Position)
			rejected = append(rejected, rejection{it, c.rejectionUnit(oem, it)})
		case errors.As(r.Err, &inv):
			it.outcome = OutcomeRejected
			it.reason = "cannot be stored: " + inv.Error()
			rejected = append(rejected, rejection{it, c.rejectionUnit(oem, it)})
		default:
			it.retry = true
		}
	}
	return rejected
}

// rejection is an item the store refused and the unit of its rejection fact.
type rejection struct {
	it   *item
	unit []eventstore.AppendRequest
}

// appendRejections appends the rejection facts of the items the store
// refused; an item whose fact is not stored is retried.
func (c *Consumer) appendRejections(ctx context.Context, cb *committed, rejected []rejection) {
	if len(rejected) == 0 {
		return
	}
	units := make([][]eventstore.AppendRequest, len(rejected))
	for i, r := range rejected {
		units[i] = r.unit
	}
	res, err := c.store.AppendEach(ctx, units)
	for i, r := range rejected {
		if err != nil || res[i].Err != nil {
			r.it.retry = true
			continue
		}
		cb.note(res[i])
		r.it.again = res[i].Results[0].AlreadyAppended
	}
}

// settleDuplicates gives each duplicate within the batch the fate of its
// first: retried with it, dead-lettered when it was (its own rejection
// fact is written when it comes back), otherwise a duplicate.
func settleDuplicates(items []*item) {
	for _, it := range items {
		if it.dupOf < 0 {
			continue
		}
		f := items[it.dupOf]
		switch {
		case f.retry:
			it.retry = true
		case f.outcome == OutcomeConflict, f.outcome == OutcomeRejected:
			it.outcome, it.reason = f.outcome, f.reason
			it.retry = true
		default:
			it.outcome = OutcomeDuplicate
		}
	}
}

// decode fills it from its message, or returns why it can never be valid.
func (c *Consumer) decode(oem, subject string, body []byte, it *item) error {
	inv, err := oemfeed.Decode(subject, body)
	if err != nil {
		var de *oemfeed.DecodeError
		if errors.As(err, &de) {
			return errors.New(de.Sentence())
		}
		return err
	}
	it.inv = inv
	if err := it.inv.Validate(); err != nil {
		return err
	}
	_, ver, data, err := domain.Encode(it.inv)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	it.data, it.ver = data, ver
	id, err := uuid.Parse(domain.InvoiceEventID(oem, inv.InvoiceNumber, inv.Revision))
	if err != nil {
		return fmt.Errorf("event id: %w", err)
	}
	it.id = id
	return nil
}

// rejectionUnit is the invoice.rejected fact of a dead letter; its id is
// derived from the OEM and the stream sequence, so a redelivery is a no-op.
func (c *Consumer) rejectionUnit(oem string, it *item) []eventstore.AppendRequest {
	it.reason = headerSafe(it.reason)
	sum := sha256.Sum256(it.msg.Data())
	rej := domain.InvoiceRejected{
		OEMID: oem, Subject: it.msg.Subject(), StreamSeq: it.seq,
		InvoiceNumber: headerSafe(it.inv.InvoiceNumber), Reason: it.reason,
		BodySHA256: hex.EncodeToString(sum[:]),
	}
	_, ver, data, err := domain.Encode(rej)
	if err != nil {
		// Cannot happen for this plain struct; the unit is then refused as invalid and retried.
		data = nil
	}
	id, _ := uuid.Parse(domain.RejectionEventID(oem, it.seq))
	return []eventstore.AppendRequest{{
		Stream:   domain.RejectionStream(oem),
		Expected: eventstore.Any,
		Events: []eventstore.Event{{
			ID: id, Type: rej.EventType(), SchemaVersion: ver, Data: data,
			Metadata: eventstore.Metadata{Actor: "oem:" + oem, Source: oemfeed.Subject(oem) + "#" + strconv.FormatUint(it.seq, 10)},
		}},
	}}
}

// headerSafe makes s usable as a header value: no control characters, at most 512 bytes.
func headerSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 512 {
		cut := 509
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// acknowledge dead-letters, terminates, acknowledges and re-queues the items
// of a committed batch. Only an injected fault is returned: acknowledgement
// failures are left to redelivery, which the event ids make harmless.
func (c *Consumer) acknowledge(ctx context.Context, oem string, cb *committed) error {
	var dead, ok []*item
	for _, it := range cb.items {
		switch {
		case it.retry:
			_ = it.msg.NakWithDelay(c.opts.RetryMin)
		case it.outcome == OutcomeRejected || it.outcome == OutcomeConflict:
			dead = append(dead, it)
		default:
			ok = append(ok, it)
		}
	}
	if err := c.waitMirrored(ctx, cb); err != nil {
		c.log.Warn("ingest: batch committed but not in the mirror, not acknowledged", "oem", oem,
			"messages", len(dead)+len(ok), "position", cb.position, "retry_in", c.opts.RetryMin, "err", err)
		for _, it := range append(dead, ok...) {
			_ = it.msg.NakWithDelay(c.opts.RetryMin)
		}
		return nil
	}
	c.deadLetter(ctx, oem, dead)

	if c.opts.DoubleAck {
		return c.doubleAck(ctx, oem, ok)
	}
	// Acks are published together and confirmed by one flush (PING/PONG):
	// when it returns the server has received every ack of the batch.
	for i, it := range ok {
		if i == len(ok)/2 {
			if err := c.fault(FaultMidAck); err != nil {
				return err
			}
		}
		if err := it.msg.Ack(); err != nil {
			c.log.Debug("ingest: ack failed, the message will be redelivered", "oem", oem, "seq", it.seq, "err", err)
		}
		c.m.messages.WithLabelValues(oem, it.outcome).Inc()
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := c.js.Conn().FlushWithContext(fctx); err != nil {
		c.log.Debug("ingest: ack flush failed, messages may be redelivered", "oem", oem, "err", err)
	}
	return nil
}

// waitMirrored waits, when Options.Mirrored is set, until the mirror holds
// the batch's highest event, at most MirrorTimeout. A graceful stop (ctx
// cancelled) still waits briefly, so that what the relay is mirroring at
// that moment is acknowledged; a crash waits no more.
func (c *Consumer) waitMirrored(ctx context.Context, cb *committed) error {
	if c.opts.Mirrored == nil || cb.position == 0 {
		return nil
	}
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, c.opts.MirrorTimeout)
	var err error
	for {
		// Every second the log is asked whether it still holds the event:
		// after a failover to a standby that lacked it, it will never be
		// mirrored, and its messages are better redelivered at once.
		sctx, scancel := context.WithTimeout(wctx, time.Second)
		err = c.opts.Mirrored.WaitMirrored(sctx, cb.position, cb.id)
		scancel()
		if err == nil || wctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if !c.logHolds(wctx, cb.position, cb.id) {
			err = fmt.Errorf("ingest: the log no longer holds event %s at position %d (a database failover?)", cb.id, cb.position)
			break
		}
	}
	cancel()
	if err != nil && errors.Is(context.Cause(ctx), context.Canceled) {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(c.opts.MirrorTimeout, 2*time.Second))
		err = c.opts.Mirrored.WaitMirrored(wctx, cb.position, cb.id)
		cancel()
	}
	if err == nil {
		c.m.mirror.Observe(time.Since(start).Seconds())
	}
	return err
}

// logHolds reports whether the log holds the event id at position; true
// when the store cannot read or the read fails (the wait goes on).
func (c *Consumer) logHolds(ctx context.Context, position int64, id uuid.UUID) bool {
	r, ok := c.store.(eventstore.Reader)
	if !ok {
		return true
	}
	recs, err := r.ReadAll(ctx, position-1, 1)
	if err != nil {
		return true
	}
	return len(recs) == 1 && recs[0].ID == id
}

// doubleAck acknowledges each message with a confirmed ack (AckSync),
// many at a time.
func (c *Consumer) doubleAck(ctx context.Context, oem string, ok []*item) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 128)
	for i, it := range ok {
		if i == len(ok)/2 {
			wg.Wait()
			if err := c.fault(FaultMidAck); err != nil {
				return err
			}
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := it.msg.DoubleAck(actx); err != nil {
				c.log.Debug("ingest: ack failed, the message will be redelivered", "oem", oem, "seq", it.seq, "err", err)
			}
		}()
		c.m.messages.WithLabelValues(oem, it.outcome).Inc()
	}
	wg.Wait()
	return nil
}

// deadLetterMsg is the dead letter of it: its original body (or, when
// withBody is false, none and a HeaderBodyOmitted saying why) with the
// reason, the original sequence and subject.
func deadLetterMsg(oem string, it *item, withBody bool) *nats.Msg {
	h := nats.Header{}
	h.Set(HeaderReason, it.reason)
	h.Set(HeaderOriginalSeq, strconv.FormatUint(it.seq, 10))
	h.Set(HeaderOriginalSubject, it.msg.Subject())
	h.Set(jetstream.MsgIDHeader, "rejected:"+oem+":"+strconv.FormatUint(it.seq, 10))
	data := it.msg.Data()
	if !withBody {
		h.Set(HeaderBodyOmitted, fmt.Sprintf("the body of %d bytes does not fit in a dead letter on this NATS server; it is message %d of stream %s",
			len(data), it.seq, StreamName(oem)))
		data = nil
	}
	return &nats.Msg{Subject: oemfeed.RejectedSubject(oem), Header: h, Data: data}
}

// deadLetter publishes the dead letters to the DLQ stream and terminates
// the ones whose publish was acknowledged; the others come back later.
func (c *Consumer) deadLetter(ctx context.Context, oem string, dead []*item) {
	if len(dead) == 0 {
		return
	}
	futures := make([]jetstream.PubAckFuture, len(dead))
	for i, it := range dead {
		f, err := c.js.PublishMsgAsync(deadLetterMsg(oem, it, true))
		if errors.Is(err, nats.ErrMaxPayload) {
			// The body and the dead letter's headers do not fit in one
			// message of this NATS server (its max_payload is below
			// oemfeed.MaxMessageSize plus the headers): retrying would fail
			// for ever, so the dead letter goes without the body, which
			// stays in the OEM's stream at its sequence.
			c.log.Error("ingest: dead letter too large for the NATS server's max_payload, sent without its body", "oem", oem, "seq", it.seq,
				"body_bytes", len(it.msg.Data()), "max_payload", c.js.Conn().MaxPayload())
			f, err = c.js.PublishMsgAsync(deadLetterMsg(oem, it, false))
		}
		if err != nil {
			c.log.Warn("ingest: dead-letter publish failed", "oem", oem, "seq", it.seq, "err", err)
		}
		futures[i] = f
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for i, it := range dead {
		published := false
		if futures[i] != nil {
			select {
			case <-futures[i].Ok():
				published = true
			case err := <-futures[i].Err():
				c.log.Warn("ingest: dead-letter publish failed", "oem", oem, "seq", it.seq, "err", err)
			case <-wctx.Done():
			}
		}
		if !published {
			_ = it.msg.NakWithDelay(c.opts.RetryMin)
			continue
		}
		if err := it.msg.TermWithReason(it.outcome); err != nil {
			c.log.Debug("ingest: term failed, the message will be redelivered", "oem", oem, "seq", it.seq, "err", err)
		}
		if it.again {
			c.m.messages.WithLabelValues(oem, OutcomeDuplicate).Inc()
			continue
		}
		c.dead.record(oem, it)
		c.m.messages.WithLabelValues(oem, it.outcome).Inc()
	}
}
