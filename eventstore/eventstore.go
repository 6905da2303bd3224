// Package eventstore defines the event log of record: envelopes, expected
// versions, typed errors, the hash chain and the Store contract. The Postgres
// implementation lives in eventstore/pgstore, the JetStream mirror in
// eventstore/mirror, and the conformance suite in eventstore/storetest.
//
// The log knows events only as envelopes (type, schema version, bytes); it
// never interprets Data.
package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// MaxEventSize is the largest Data plus Metadata an event may carry, in bytes.
const MaxEventSize = 1 << 20

// Event is an event to append.
type Event struct {
	// ID identifies the event; appending an ID that is already stored with the
	// same content is a no-op that returns the stored record (idempotent retry).
	ID uuid.UUID
	// Type names the event, e.g. "deal.registered".
	Type string
	// SchemaVersion is the version of Data's schema, starting at 1.
	SchemaVersion int
	// Data is the JSON body; it is stored and hashed byte for byte.
	Data []byte
	// Metadata describes where the event came from.
	Metadata Metadata
	// OccurredAt is the business time of the fact (not the commit time).
	OccurredAt time.Time
}

// Metadata is the provenance of an event.
type Metadata struct {
	CorrelationID string `json:"correlation_id,omitempty"`
	CausationID   string `json:"causation_id,omitempty"`
	Actor         string `json:"actor,omitempty"`
	// Source names the origin, e.g. "http" or "oem.hp.invoices#42".
	Source string `json:"source,omitempty"`
}

// Record is a stored event.
type Record struct {
	Position      int64 // global, gap-free, commit order, starts at 1
	StreamID      string
	StreamVersion int64 // 1 for the first event of a stream
	ID            uuid.UUID
	Type          string
	SchemaVersion int
	Data          json.RawMessage // exactly the stored bytes
	Metadata      json.RawMessage // exactly the stored bytes
	OccurredAt    time.Time
	RecordedAt    time.Time
	PrevHash      []byte // sha-256 of the previous record, 32 zero bytes for position 1
	Hash          []byte
}

// Category is the stream id's prefix before the first '-', e.g. "deal" for
// "deal-7f3c...". It names the mirror subject dealcredit.events.<category>.
func (r Record) Category() string { return Category(r.StreamID) }

// Expected is the stream version an append expects.
type Expected struct {
	kind    expectKind
	version int64
}

type expectKind uint8

const (
	expectAny expectKind = iota
	expectNoStream
	expectExact
	expectExists
)

// Expected version modes.
var (
	// Any appends whatever the stream's version.
	Any = Expected{kind: expectAny}
	// NoStream appends only if the stream has no events.
	NoStream = Expected{kind: expectNoStream}
	// StreamExists appends only if the stream has at least one event.
	StreamExists = Expected{kind: expectExists}
)

// Exact appends only if the stream's current version is v (v >= 1).
func Exact(v int64) Expected { return Expected{kind: expectExact, version: v} }

// Check reports whether a stream at version current (0 = no stream)
// satisfies e. An invalid Expected (e.g. Exact(0)) never matches.
func (e Expected) Check(current int64) bool {
	switch e.kind {
	case expectAny:
		return true
	case expectNoStream:
		return current == 0
	case expectExists:
		return current > 0
	case expectExact:
		return e.version >= 1 && current == e.version
	}
	return false
}

// Validate returns an *InvalidError when e is not a usable mode.
func (e Expected) Validate() error {
	switch e.kind {
	case expectAny, expectNoStream, expectExists:
		return nil
	case expectExact:
		if e.version < 1 {
			return &InvalidError{Field: "expected", Reason: fmt.Sprintf("exact version must be >= 1, got %d (use NoStream for a new stream)", e.version)}
		}
		return nil
	}
	return &InvalidError{Field: "expected", Reason: fmt.Sprintf("unknown expected-version mode %d", e.kind)}
}

// String renders e as "any", "no_stream", "exists" or the exact version.
func (e Expected) String() string {
	switch e.kind {
	case expectAny:
		return "any"
	case expectNoStream:
		return "no_stream"
	case expectExists:
		return "exists"
	case expectExact:
		return fmt.Sprintf("%d", e.version)
	}
	return fmt.Sprintf("invalid(%d)", e.kind)
}

// AppendRequest is the events to append to one stream.
type AppendRequest struct {
	Stream   string
	Expected Expected
	Events   []Event
}

// AppendResult is the outcome of one AppendRequest.
type AppendResult struct {
	// Records are the stored records, in order (the original ones when
	// AlreadyAppended).
	Records []Record
	// AlreadyAppended is true when every event id was stored before with
	// identical content: nothing new was written.
	AlreadyAppended bool
}

// LastPosition is the position of the last record, or 0.
func (r AppendResult) LastPosition() int64 {
	if len(r.Records) == 0 {
		return 0
	}
	return r.Records[len(r.Records)-1].Position
}

// Appender appends events.
type Appender interface {
	// Append appends events to one stream atomically.
	Append(ctx context.Context, stream string, expected Expected, events ...Event) (AppendResult, error)
	// AppendAtomic appends to several streams in one transaction: all
	// requests commit or none does. Used where an invariant spans streams
	// (e.g. a deal and its customer-key reservation).
	AppendAtomic(ctx context.Context, reqs ...AppendRequest) ([]AppendResult, error)
	// AppendEach appends independent units (each unit atomic by itself)
	// and reports one outcome per unit; units whose checks pass are
	// committed together in as few transactions as possible, so a failing
	// unit never blocks the others. The returned error is non-nil only when
	// no unit is known to be appended: the outcome of every unit is unknown
	// (e.g. the connection dropped during COMMIT) or none was appended
	// (e.g. database down); a retry of the whole call is then safe.
	AppendEach(ctx context.Context, units [][]AppendRequest) ([]UnitResult, error)
}

// UnitResult is the outcome of one unit of AppendEach.
type UnitResult struct {
	Results []AppendResult // set when Err == nil
	Err     error          // *ConflictError, *IDConflictError or *InvalidError
}

// Reader reads the log.
type Reader interface {
	// ReadStream returns the events of a stream with version > afterVersion, in order.
	ReadStream(ctx context.Context, stream string, afterVersion int64) ([]Record, error)
	// ReadAll returns up to limit records with position > after, in order.
	ReadAll(ctx context.Context, after int64, limit int) ([]Record, error)
	// Head returns the position of the last committed record (0 when empty).
	Head(ctx context.Context) (int64, error)
}

// StreamsReader reads many whole streams in one call (a store may offer it
// besides Reader, for callers that know up front which streams they need).
type StreamsReader interface {
	// ReadStreams returns the events of each of streams, in version order;
	// a stream with no events is absent from the map.
	ReadStreams(ctx context.Context, streams []string) (map[string][]Record, error)
}

// Follower lets a reader wait for new commits instead of polling.
type Follower interface {
	// WaitFor blocks until the log's head is greater than after (or ctx
	// ends) and returns the new head. It wakes on commit notifications
	// (LISTEN/NOTIFY) and re-checks periodically, so a lost notification
	// delays but never stalls a follower.
	WaitFor(ctx context.Context, after int64) (int64, error)
}

// Store is the whole event log.
type Store interface {
	Appender
	Reader
	Follower
}

// Category returns the part of a stream id before the first '-'.
func Category(stream string) string {
	for i := 0; i < len(stream); i++ {
		if stream[i] == '-' {
			return stream[:i]
		}
	}
	return stream
}

// ConflictError reports a stream whose version did not match the expectation.
type ConflictError struct {
	Stream   string
	Expected Expected
	Actual   int64 // 0 = no stream
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("eventstore: stream %q: expected version %s, actual %d", e.Stream, e.Expected, e.Actual)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// IDConflictError reports an event id that is already stored with different content.
type IDConflictError struct {
	ID       uuid.UUID
	Position int64 // where the stored event with that id is
}

func (e *IDConflictError) Error() string {
	return fmt.Sprintf("eventstore: event id %s already stored at position %d with different content", e.ID, e.Position)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *IDConflictError) Is(target error) bool { return target == ErrConflict }

// InvalidError reports a request that can never be appended.
type InvalidError struct {
	Field  string // e.g. "stream", "events[2].data"
	Reason string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("eventstore: invalid %s: %s", e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// Sentinel errors for errors.Is.
var (
	ErrConflict = errors.New("eventstore: conflict")
	ErrInvalid  = errors.New("eventstore: invalid request")
	ErrClosed   = errors.New("eventstore: store closed")
)
