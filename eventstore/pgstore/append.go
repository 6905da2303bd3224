package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"dealcredit/eventstore"
)

// job is one call to Append, AppendAtomic or AppendEach waiting for the writer.
type job struct {
	ctx    context.Context
	units  []unit
	events int // events in all units, for batch sizing
	res    chan jobResult
}

// unit is a group of requests that commit together or not at all.
type unit struct {
	reqs []preparedRequest
	err  error // validation failure, set before the job is queued
}

// events is the number of events in u, for batch sizing.
func (u unit) events() int {
	n := 0
	for _, r := range u.reqs {
		n += len(r.Events)
	}
	return n
}

type preparedRequest struct {
	eventstore.AppendRequest
	metadata [][]byte // encoded Metadata per event
}

type jobResult struct {
	units []eventstore.UnitResult
	err   error // the outcome of every unit is unknown or not appended
}

// Append appends events to one stream atomically. See eventstore.Appender.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Event) (eventstore.AppendResult, error) {
	u := s.prepareUnit("", []eventstore.AppendRequest{{Stream: stream, Expected: expected, Events: events}})
	if u.err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("pgstore: append %s: %w", stream, u.err)
	}
	res, err := s.submit(ctx, []unit{u})
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("pgstore: append %s: %w", stream, err)
	}
	if ur := res[0]; ur.Err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("pgstore: append %s: %w", stream, ur.Err)
	}
	return res[0].Results[0], nil
}

// AppendAtomic appends to several streams in one transaction: all requests
// commit or none does. See eventstore.Appender.
func (s *Store) AppendAtomic(ctx context.Context, reqs ...eventstore.AppendRequest) ([]eventstore.AppendResult, error) {
	if len(reqs) == 0 {
		return nil, fmt.Errorf("pgstore: append atomic: %w", &eventstore.InvalidError{Field: "requests", Reason: "no requests"})
	}
	u := s.prepareUnit("requests", reqs)
	if u.err != nil {
		return nil, fmt.Errorf("pgstore: append atomic: %w", u.err)
	}
	res, err := s.submit(ctx, []unit{u})
	if err != nil {
		return nil, fmt.Errorf("pgstore: append atomic: %w", err)
	}
	if res[0].Err != nil {
		return nil, fmt.Errorf("pgstore: append atomic: %w", res[0].Err)
	}
	return res[0].Results, nil
}

// AppendEach appends independent units and reports one outcome per unit.
// See eventstore.Appender.
func (s *Store) AppendEach(ctx context.Context, units [][]eventstore.AppendRequest) ([]eventstore.UnitResult, error) {
	out := make([]eventstore.UnitResult, len(units))
	prepared := make([]unit, 0, len(units))
	index := make([]int, 0, len(units)) // prepared[i] answers out[index[i]]
	for i, reqs := range units {
		u := s.prepareUnit("requests", reqs)
		if len(reqs) == 0 {
			u.err = &eventstore.InvalidError{Field: "requests", Reason: "empty unit"}
		}
		if u.err != nil {
			out[i].Err = u.err
			continue
		}
		prepared = append(prepared, u)
		index = append(index, i)
	}
	if len(prepared) == 0 {
		return out, nil
	}
	res, err := s.submit(ctx, prepared)
	if err != nil {
		return nil, fmt.Errorf("pgstore: append each: %w", err)
	}
	for i, r := range res {
		out[index[i]] = r
	}
	return out, nil
}

// prepareUnit validates reqs and encodes their metadata. Field names get a
// "requests[i]." prefix when prefix is set.
func (s *Store) prepareUnit(prefix string, reqs []eventstore.AppendRequest) unit {
	u := unit{reqs: make([]preparedRequest, len(reqs))}
	for i, r := range reqs {
		p := ""
		if prefix != "" {
			p = prefix + "[" + strconv.Itoa(i) + "]."
		}
		if err := eventstore.ValidateRequest(p, r); err != nil {
			u.err = err
			return u
		}
		pr := preparedRequest{AppendRequest: r, metadata: make([][]byte, len(r.Events))}
		for j, e := range r.Events {
			pr.metadata[j] = eventstore.EncodeMetadata(e.Metadata)
			field := func() string { return eventstore.EventField(p, j) }
			if err := eventstore.CheckSize(field, e.Data, pr.metadata[j]); err != nil {
				u.err = err
				return u
			}
		}
		u.reqs[i] = pr
	}
	return u
}

// submit hands units to the writer and waits for the answer. A ctx that ends
// before the writer takes the job means nothing was appended; once the
// writer has taken it, submit waits for the commit's outcome.
func (s *Store) submit(ctx context.Context, units []unit) ([]eventstore.UnitResult, error) {
	start := time.Now()
	defer func() { s.m.duration.Observe(time.Since(start).Seconds()) }()
	j := &job{ctx: ctx, units: units, res: make(chan jobResult, 1)}
	for _, u := range units {
		j.events += u.events()
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("not appended: %w", err)
	}
	s.active.Add(1)
	defer s.active.Add(-1)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, eventstore.ErrClosed
	}
	if s.writeAlone(j) {
		s.mu.RUnlock()
		return answer(<-j.res)
	}
	select {
	case s.jobs <- j:
	case <-ctx.Done():
		s.mu.RUnlock()
		return nil, fmt.Errorf("not appended: %w", ctx.Err())
	}
	s.mu.RUnlock()
	return answer(<-j.res)
}

// writeAlone writes j's batch in the caller's goroutine when no other
// append is in progress and the writer is idle, and reports whether it did
// (j.res then holds the answer). A lone appender so skips two goroutine
// hand-offs (to the writer and back) per append; concurrent appends still
// queue for the writer, which batches them. The caller holds s.mu's read
// lock, so Close waits for the batch.
func (s *Store) writeAlone(j *job) bool {
	if s.active.Load() != 1 || len(s.jobs) != 0 || !s.writing.TryLock() {
		return false
	}
	defer s.writing.Unlock()
	s.runBatch([]*job{j})
	return true
}

// answer is submit's return for the writer's answer r.
func answer(r jobResult) ([]eventstore.UnitResult, error) {
	if r.err != nil {
		return nil, r.err
	}
	return r.units, nil
}

// errNotAppended wraps a failure after which it is certain that nothing of
// the batch was stored.
type notAppendedError struct{ err error }

func (e *notAppendedError) Error() string { return "not appended: " + e.err.Error() }
func (e *notAppendedError) Unwrap() error { return e.err }

var errOutcomeUnknown = errors.New("commit outcome unknown")
