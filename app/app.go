// Package app is dealcredit's command layer: one method per command that
// loads the streams the decision reads, decides with the domain, and appends
// the events with the versions it read, re-deciding on a version conflict.
//
// Every caller issues commands through it: the HTTP API (after decoding and
// authorising), the CLI, the scheduler and the importers. It knows nothing
// of HTTP; its inputs are a typed command and the Meta of who asks.
package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"dealcredit/domain"
	"dealcredit/eventstore"
)

// maxAttempts bounds the load-decide-append retries on a version conflict.
const maxAttempts = 5

// Meta is who issues a command, from where, and why: it becomes the
// metadata of every event the command appends.
type Meta struct {
	// Actor is who asks, e.g. "partner:acme" or "channel:greg".
	Actor string
	// Source names the origin, e.g. "http POST /v1/deals" or "scheduler".
	Source string
	// CorrelationID ties the events to a request or a run.
	CorrelationID string
	// IdempotencyKey, when set, makes the events' ids a function of the key
	// (and of their index), so that a command retried with the same key and
	// deciding the same events is stored once (the log's idempotent retry).
	IdempotencyKey string
	// Partner, when set, is the one partner the actor acts for (a partner's
	// own token): another partner's deals, leads and records are not found
	// to it, and what it registers or accepts is its own.
	Partner string
}

// Service runs commands against the event log.
type Service struct {
	store      eventstore.Store
	clock      func() time.Time
	newID      func() uuid.UUID
	registered func(ctx context.Context, geo string) ([]string, error)
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the time source of decisions and events (default time.Now).
func WithClock(clock func() time.Time) Option { return func(s *Service) { s.clock = clock } }

// WithIDs sets the source of new deal, lead and event ids (default uuid.New).
func WithIDs(newID func() uuid.UUID) Option { return func(s *Service) { s.newID = newID } }

// WithRegisteredPartners sets where lead decisions find the registered
// partners of a geography (the last candidates of a lead, rule 24); the log
// has no stream listing them, so the daemon passes a read model's. Without
// it, leads go to Platinum and Gold partners (and event participants) only.
func WithRegisteredPartners(fn func(ctx context.Context, geo string) ([]string, error)) Option {
	return func(s *Service) { s.registered = fn }
}

// New returns a Service appending to store.
func New(store eventstore.Store, opts ...Option) *Service {
	s := &Service{store: store, clock: time.Now, newID: uuid.New}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.clock() }

// Result is what a command did: the log position of its last event (the
// log head when it decided nothing) and the events it appended.
type Result struct {
	Position int64
	Events   []domain.Event
	// Replayed is true when the events' ids (from Meta.IdempotencyKey) were
	// all stored before with the same content: the command had already been
	// carried out and nothing new was written.
	Replayed bool
}

// EventTypes lists the result's event types, in order.
func (r Result) EventTypes() []string {
	out := make([]string, 0, len(r.Events))
	for _, e := range r.Events {
		out = append(out, e.EventType())
	}
	return out
}

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
			return loaded[S]{}, fmt.Errorf("decode %s v%d at position %d: %w", rec.Type, rec.StreamVersion, rec.Position, Internal(err))
		}
		st = evolve(st, domain.WithProvenance(e, rec.ID.String(), rec.Metadata))
		v = rec.StreamVersion
	}
	return loaded[S]{state: st, version: v}, nil
}

// Load folds one stream without taking part in a decision (for reads that
// need the domain's state, such as a partner's own record).
func Load[S any](ctx context.Context, s *Service, stream string, zero S, evolve func(S, domain.Event) S) (S, error) {
	st, err := load(ctx, s.store, stream, zero, evolve)
	return st.state, err
}

// Internal hides a domain error raised by stored data: it is not the
// caller's mistake and must not be reported as one.
func Internal(err error) error {
	var de *domain.Error
	if errors.As(err, &de) {
		return errors.New(err.Error())
	}
	return err
}

// ReadModelError is a decision that needs a list only a read model keeps
// (the registered partners a lead cascades to last, rule 24) when that read
// model cannot be read: not built because no process runs the projections,
// or the database failing. Nothing was decided or recorded; the same
// command succeeds once the read model is there. Err is the cause.
type ReadModelError struct {
	// What names the list, e.g. "the registered partners of geography emea".
	What string
	Err  error
}

func (e *ReadModelError) Error() string {
	return fmt.Sprintf("%s cannot be read from the leads read model: %v", e.What, e.Err)
}

// Unwrap returns the cause.
func (e *ReadModelError) Unwrap() error { return e.Err }

// expect returns the expected version for an append after reading version v.
func expect(v int64) eventstore.Expected {
	if v == 0 {
		return eventstore.NoStream
	}
	return eventstore.Exact(v)
}

// idNamespace is the namespace of event ids derived from idempotency keys.
var idNamespace = uuid.MustParse("0b4c8e1e-7f0e-4d7c-9a51-6c1f3e0a2d55")

// envelopes encodes domain events for the log, with md as their metadata.
func (s *Service) envelopes(md Meta, now time.Time, events []domain.Event, first int) ([]eventstore.Event, error) {
	out := make([]eventstore.Event, 0, len(events))
	for i, e := range events {
		id := s.newID()
		if md.IdempotencyKey != "" {
			id = uuid.NewSHA1(idNamespace, fmt.Appendf(nil, "%s/%d", md.IdempotencyKey, first+i))
		}
		env, err := envelope(md, now, e, id)
		if err != nil {
			return nil, err
		}
		out = append(out, env)
	}
	return out, nil
}

// envelope encodes one domain event for the log with md as its metadata.
func envelope(md Meta, at time.Time, e domain.Event, id uuid.UUID) (eventstore.Event, error) {
	typ, ver, data, err := domain.Encode(e)
	if err != nil {
		return eventstore.Event{}, fmt.Errorf("encode: %w", Internal(err))
	}
	return eventstore.Event{
		ID: id, Type: typ, SchemaVersion: ver, Data: data, OccurredAt: at,
		Metadata: eventstore.Metadata{Actor: md.Actor, Source: md.Source, CorrelationID: md.CorrelationID},
	}, nil
}

// Txn records the stream versions a decision read, so that its events are
// appended atomically against exactly those versions.
type Txn struct {
	ctx        context.Context
	store      eventstore.Reader
	now        time.Time
	versions   map[string]int64
	registered func(ctx context.Context, geo string) ([]string, error)
}

// Now is the time of the decision (one reading of the clock per attempt).
func (t *Txn) Now() time.Time { return t.now }

// Reader returns a Txn for reading outside a decision (its guarded
// versions are never used).
func (s *Service) Reader(ctx context.Context) *Txn {
	return &Txn{ctx: ctx, store: s.store, now: s.clock().UTC(), versions: map[string]int64{}, registered: s.registered}
}

// LoadIn folds stream and guards its version: if the stream changes before
// the decision is appended, the decision is made again.
func LoadIn[S any](t *Txn, stream string, zero S, evolve func(S, domain.Event) S) (S, error) {
	st, err := load(t.ctx, t.store, stream, zero, evolve)
	if err != nil {
		return zero, err
	}
	t.versions[stream] = st.version
	return st.state, nil
}

// moved reports whether any stream the decision guarded has changed since
// it was read.
func (t *Txn) moved() (bool, error) {
	if sr, ok := t.store.(eventstore.StreamsReader); ok && len(t.versions) > 1 {
		streams := slices.Collect(maps.Keys(t.versions))
		byStream, err := sr.ReadStreams(t.ctx, streams)
		if err != nil {
			return false, fmt.Errorf("read %d streams: %w", len(streams), err)
		}
		for _, stream := range streams {
			var last int64
			if recs := byStream[stream]; len(recs) > 0 {
				last = recs[len(recs)-1].StreamVersion
			}
			if last != t.versions[stream] {
				return true, nil
			}
		}
		return false, nil
	}
	for stream, v := range t.versions {
		recs, err := t.store.ReadStream(t.ctx, stream, v)
		if err != nil {
			return false, fmt.Errorf("read %s: %w", stream, err)
		}
		if len(recs) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// Peek folds stream without guarding its version: a change to it does not
// invalidate the decision (e.g. the partner behind a deal decision).
func Peek[S any](t *Txn, stream string, zero S, evolve func(S, domain.Event) S) (S, error) {
	st, err := load(t.ctx, t.store, stream, zero, evolve)
	return st.state, err
}

// Policy returns the policy history, unguarded: a policy change does not
// invalidate a decision taken a moment before.
func Policy(t *Txn) (domain.PolicyHistory, error) {
	return Peek(t, domain.PolicyStream(), domain.PolicyHistory{}, domain.EvolvePolicy)
}

// Decide runs a decision that may touch several streams: fn loads what it
// needs through the Txn and returns events; they are grouped by
// domain.StreamOf and appended in one transaction with the versions read
// (streams fn did not load are appended without a version check). On a
// version conflict the whole decision is made again (up to maxAttempts), and
// so is a refusal or a no-op whose guarded streams changed while it was taken.
// When fn returns events AND an error (a refusal that is itself recorded,
// e.g. a waitlist), the events are appended and the error returned.
func (s *Service) Decide(ctx context.Context, md Meta, fn func(t *Txn) ([]domain.Event, error)) (Result, error) {
	for attempt := 1; ; attempt++ {
		t := &Txn{ctx: ctx, store: s.store, now: s.clock().UTC(), versions: map[string]int64{}, registered: s.registered}
		events, derr := fn(t)
		var rule *domain.Error
		if derr != nil && len(events) == 0 && !errors.As(derr, &rule) {
			return Result{}, derr
		}
		if len(events) == 0 {
			// A refusal or a no-op taken on streams read one after another
			// may rest on a torn view: another decision appended to a
			// stream read first before a later one was read. It stands
			// only if every guarded stream is still as it was read.
			moved, err := t.moved()
			if err != nil {
				return Result{}, err
			}
			if moved && attempt < maxAttempts {
				continue
			}
			if derr != nil {
				return Result{}, derr
			}
			head, err := s.store.Head(ctx)
			return Result{Position: head}, err
		}
		reqs, err := s.requests(md, t, events)
		if err != nil {
			return Result{}, err
		}
		res, err := s.store.AppendAtomic(ctx, reqs...)
		if errors.Is(err, eventstore.ErrConflict) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			names := make([]string, len(reqs))
			for i, r := range reqs {
				names[i] = r.Stream
			}
			return Result{}, fmt.Errorf("append %s: %w", strings.Join(names, ","), err)
		}
		var pos int64
		replayed := true
		for _, x := range res {
			pos = max(pos, x.LastPosition())
			replayed = replayed && x.AlreadyAppended
		}
		return Result{Position: pos, Events: events, Replayed: replayed}, derr
	}
}

// requests groups events by stream, in first-seen order, with the expected
// version the Txn read for each stream.
func (s *Service) requests(md Meta, t *Txn, events []domain.Event) ([]eventstore.AppendRequest, error) {
	var order []string
	byStream := map[string][]domain.Event{}
	for _, e := range events {
		st := domain.StreamOf(e)
		if st == "" {
			return nil, fmt.Errorf("no stream for event %s", e.EventType())
		}
		if _, ok := byStream[st]; !ok {
			order = append(order, st)
		}
		byStream[st] = append(byStream[st], e)
	}
	reqs := make([]eventstore.AppendRequest, 0, len(order))
	n := 0
	for _, st := range order {
		envs, err := s.envelopes(md, t.now, byStream[st], n)
		if err != nil {
			return nil, err
		}
		n += len(envs)
		exp := eventstore.Any
		if v, ok := t.versions[st]; ok {
			exp = expect(v)
		}
		reqs = append(reqs, eventstore.AppendRequest{Stream: st, Expected: exp, Events: envs})
	}
	return reqs, nil
}
