package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"dealcredit/domain"
	"dealcredit/eventstore"
)

// maxAttempts bounds the load-decide-append retries on a version conflict.
const maxAttempts = 5

// loaded is one stream folded from the log.
type loaded[S any] struct {
	state   S
	version int64
}

// load reads stream and folds it with evolve.
func load[S any](ctx context.Context, store eventstore.Reader, stream string, zero S, evolve func(S, domain.Event) S) (loaded[S], error) {
	recs, err := store.ReadStream(ctx, stream, 0)
	if err != nil {
		return loaded[S]{}, fmt.Errorf("read %s: %w", stream, err)
	}
	st := zero
	var v int64
	for _, rec := range recs {
		e, err := domain.Decode(rec.Type, rec.SchemaVersion, rec.Data)
		if err != nil {
			return loaded[S]{}, fmt.Errorf("decode %s v%d at position %d: %w", rec.Type, rec.StreamVersion, rec.Position, asInternal(err))
		}
		st = evolve(st, e)
		v = rec.StreamVersion
	}
	return loaded[S]{state: st, version: v}, nil
}

// asInternal hides a domain error raised by stored data: it is not the
// caller's mistake and must not be reported as one.
func asInternal(err error) error {
	var de *domain.Error
	if errors.As(err, &de) {
		return errors.New(err.Error())
	}
	return err
}

// expect returns the expected version for an append after reading version v.
func expect(v int64) eventstore.Expected {
	if v == 0 {
		return eventstore.NoStream
	}
	return eventstore.Exact(v)
}

// envelopes encodes domain events for the log, with the caller's metadata.
func (s *server) envelopes(r *http.Request, events []domain.Event) ([]eventstore.Event, error) {
	p := principalFrom(r.Context())
	now := s.Clock().UTC()
	out := make([]eventstore.Event, 0, len(events))
	for _, e := range events {
		typ, ver, data, err := domain.Encode(e)
		if err != nil {
			return nil, fmt.Errorf("encode: %w", asInternal(err))
		}
		out = append(out, eventstore.Event{
			ID: s.NewID(), Type: typ, SchemaVersion: ver, Data: data, OccurredAt: now,
			Metadata: eventstore.Metadata{
				Actor:         p.Actor(),
				Source:        "http " + r.Method + " " + r.URL.Path,
				CorrelationID: r.Header.Get("X-Request-Id"),
			},
		})
	}
	return out, nil
}

// update is the load-decide-append cycle on one stream: fold the stream,
// decide, append with the exact version read; on a version conflict start
// again (the decision is re-made against the new state).
func update[S any](s *server, r *http.Request, stream string, zero S, evolve func(S, domain.Event) S,
	decide func(S) ([]domain.Event, error)) (int64, []domain.Event, error) {
	ctx := r.Context()
	for attempt := 1; ; attempt++ {
		st, err := load(ctx, s.Store, stream, zero, evolve)
		if err != nil {
			return 0, nil, err
		}
		events, err := decide(st.state)
		if err != nil {
			return 0, nil, err
		}
		if len(events) == 0 {
			head, err := s.Store.Head(ctx)
			return head, nil, err
		}
		envs, err := s.envelopes(r, events)
		if err != nil {
			return 0, nil, err
		}
		res, err := s.Store.Append(ctx, stream, expect(st.version), envs...)
		if errors.Is(err, eventstore.ErrConflict) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return 0, nil, fmt.Errorf("append %s: %w", stream, err)
		}
		return res.LastPosition(), events, nil
	}
}

// txn records the stream versions a decision read, so its events can be
// appended atomically against exactly those versions.
type txn struct {
	ctx      context.Context
	store    eventstore.Reader
	versions map[string]int64
}

// loadIn folds stream and remembers its version in t.
func loadIn[S any](t *txn, stream string, zero S, evolve func(S, domain.Event) S) (S, error) {
	st, err := load(t.ctx, t.store, stream, zero, evolve)
	if err != nil {
		return zero, err
	}
	t.versions[stream] = st.version
	return st.state, nil
}

// policyIn returns the policy history (read without guarding its version:
// a policy change does not invalidate a decision taken a moment before).
func policyIn(t *txn) (domain.PolicyHistory, error) {
	st, err := load(t.ctx, t.store, domain.PolicyStream(), domain.PolicyHistory{}, domain.EvolvePolicy)
	return st.state, err
}

// decideAtomic runs a decision that may touch several streams: fn loads what
// it needs through the txn and returns events; they are grouped by
// domain.StreamOf and appended in one transaction with the versions read.
// On a version conflict the whole decision is re-made (up to maxAttempts).
// When fn returns events AND an error (a refusal that is itself recorded,
// e.g. a waitlist), the events are appended and the error returned.
func (s *server) decideAtomic(r *http.Request, fn func(t *txn) ([]domain.Event, error)) (int64, []domain.Event, error) {
	for attempt := 1; ; attempt++ {
		t := &txn{ctx: r.Context(), store: s.Store, versions: map[string]int64{}}
		events, derr := fn(t)
		if derr != nil && len(events) == 0 {
			return 0, nil, derr
		}
		if len(events) == 0 {
			head, err := s.Store.Head(r.Context())
			return head, nil, err
		}
		var order []string
		byStream := map[string][]domain.Event{}
		for _, e := range events {
			st := domain.StreamOf(e)
			if st == "" {
				return 0, nil, fmt.Errorf("no stream for event %s", e.EventType())
			}
			if _, ok := byStream[st]; !ok {
				order = append(order, st)
			}
			byStream[st] = append(byStream[st], e)
		}
		reqs := make([]eventstore.AppendRequest, 0, len(order))
		for _, st := range order {
			envs, err := s.envelopes(r, byStream[st])
			if err != nil {
				return 0, nil, err
			}
			exp := eventstore.Any
			if v, ok := t.versions[st]; ok {
				exp = expect(v)
			}
			reqs = append(reqs, eventstore.AppendRequest{Stream: st, Expected: exp, Events: envs})
		}
		res, err := s.Store.AppendAtomic(r.Context(), reqs...)
		if errors.Is(err, eventstore.ErrConflict) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return 0, nil, fmt.Errorf("append %s: %w", strings.Join(order, ","), err)
		}
		var pos int64
		for _, x := range res {
			pos = max(pos, x.LastPosition())
		}
		return pos, events, derr
	}
}

// commandResult is the answer to a command.
type commandResult struct {
	Position int64    `json:"position"`
	ID       string   `json:"id,omitempty"`
	Status   string   `json:"status,omitempty"`
	Events   []string `json:"events"`
}

func (s *server) committed(w http.ResponseWriter, status int, pos int64, id, state string, events []domain.Event) {
	out := commandResult{Position: pos, ID: id, Status: state, Events: make([]string, 0, len(events))}
	for _, e := range events {
		out.Events = append(out.Events, e.EventType())
	}
	setPosition(w, pos)
	writeJSON(w, status, out)
}
