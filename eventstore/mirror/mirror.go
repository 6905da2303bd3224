// Package mirror copies the event log of record (Postgres) into the JetStream
// stream DEALCREDIT_EVENTS and checks that copy against the log.
//
// The mirror is exact: the stream sequence of every message equals the
// global position of the event it carries, its Nats-Msg-Id is the event id,
// and its headers carry the whole envelope (including the hash chain) so the
// chain can be recomputed from the mirror alone. Because the stream denies
// delete and purge, it is the external anchor for tamper evidence: a log
// whose tail was deleted or whose chain was rewritten no longer matches it.
package mirror

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/eventstore"
)

// StreamName is the JetStream stream holding the mirror.
const StreamName = "DEALCREDIT_EVENTS"

// SubjectPrefix starts every mirror subject: dealcredit.events.<category>.
const SubjectPrefix = "dealcredit.events."

// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id. Exactness
// does not depend on it (Nats-Expected-Last-Sequence does that); it only
// turns a retried publish into a cheap duplicate ack.
const DuplicateWindow = 2 * time.Minute

// Headers carrying the envelope of a mirrored event. Hashes are lower-case
// hex, times RFC 3339 with nanoseconds in UTC, metadata base64 (standard
// encoding) of the exact stored bytes; the message body is the exact data.
const (
	HeaderPosition      = "Dealcredit-Position"
	HeaderStream        = "Dealcredit-Stream"
	HeaderStreamVersion = "Dealcredit-Stream-Version"
	HeaderEventID       = "Dealcredit-Event-Id"
	HeaderType          = "Dealcredit-Type"
	HeaderSchemaVersion = "Dealcredit-Schema-Version"
	HeaderMetadata      = "Dealcredit-Metadata"
	HeaderOccurredAt    = "Dealcredit-Occurred-At"
	HeaderRecordedAt    = "Dealcredit-Recorded-At"
	HeaderPrevHash      = "Dealcredit-Prev-Hash"
	HeaderHash          = "Dealcredit-Hash"
)

// atomicServerVersion is the first nats-server with atomic batch publish,
// which the relay uses to store a whole batch with one disk sync.
var atomicServerVersion = [3]int{2, 12, 0}

// minServerVersion is the oldest nats-server the mirror is built for
// (DenyDelete/DenyPurge on file streams, stable expected-sequence checks).
var minServerVersion = [3]int{2, 10, 0}

// Subject returns the mirror subject of a stream id.
func Subject(stream string) string { return SubjectPrefix + eventstore.Category(stream) }

// EnsureStream creates DEALCREDIT_EVENTS, or updates it to the expected
// configuration when it exists, and returns it. It is safe to call at every
// start-up, from several processes at once. It fails when the connected
// server is older than 2.10.
func EnsureStream(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.Stream, error) {
	if replicas < 1 {
		replicas = 1
	}
	version := js.Conn().ConnectedServerVersion()
	if err := checkServerVersion(version); err != nil {
		return nil, err
	}
	got, _ := parseVersion(version)
	cfg := jetstream.StreamConfig{
		Name:        StreamName,
		Description: "dealcredit event log mirror: stream sequence == global position",
		Subjects:    []string{SubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		// Nothing is ever evicted; if a limit were ever set, refuse new
		// messages rather than silently dropping the oldest ones.
		Discard:     jetstream.DiscardNew,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		MaxAge:      0,
		MaxMsgSize:  -1,
		Replicas:    replicas,
		Duplicates:  DuplicateWindow,
		DenyDelete:  true,
		DenyPurge:   true,
		AllowDirect: true,
		// With atomic batches a synced file store writes a whole batch
		// with one sync instead of one per message.
		AllowAtomicPublish: !versionLess(got, atomicServerVersion),
	}
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("mirror: ensure stream %s: %w", StreamName, err)
	}
	return s, nil
}

func checkServerVersion(v string) error {
	got, ok := parseVersion(v)
	if !ok {
		return fmt.Errorf("mirror: cannot parse nats-server version %q (need >= 2.10)", v)
	}
	if versionLess(got, minServerVersion) {
		return fmt.Errorf("mirror: nats-server %s is too old: DEALCREDIT_EVENTS needs >= 2.10.0", v)
	}
	return nil
}

func versionLess(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func parseVersion(v string) ([3]int, bool) {
	var out [3]int
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

// message builds the mirror message of a record, without the
// Nats-Expected-Last-Sequence header (the publisher adds it where allowed).
func message(r eventstore.Record) *nats.Msg {
	m := nats.NewMsg(Subject(r.StreamID))
	m.Data = r.Data
	h := m.Header
	h.Set(jetstream.MsgIDHeader, r.ID.String())
	h.Set(HeaderPosition, strconv.FormatInt(r.Position, 10))
	h.Set(HeaderStream, r.StreamID)
	h.Set(HeaderStreamVersion, strconv.FormatInt(r.StreamVersion, 10))
	h.Set(HeaderEventID, r.ID.String())
	h.Set(HeaderType, r.Type)
	h.Set(HeaderSchemaVersion, strconv.Itoa(r.SchemaVersion))
	h.Set(HeaderMetadata, base64.StdEncoding.EncodeToString(r.Metadata))
	h.Set(HeaderOccurredAt, r.OccurredAt.UTC().Format(time.RFC3339Nano))
	h.Set(HeaderRecordedAt, r.RecordedAt.UTC().Format(time.RFC3339Nano))
	h.Set(HeaderPrevHash, hex.EncodeToString(r.PrevHash))
	h.Set(HeaderHash, hex.EncodeToString(r.Hash))
	return m
}

// Decode rebuilds the record carried by a mirror message from its headers
// and body. It does not check the hash; Verify does.
func Decode(h nats.Header, data []byte) (eventstore.Record, error) {
	var r eventstore.Record
	var errs []error
	get := func(name string) string {
		v := h.Get(name)
		if v == "" && name != HeaderMetadata {
			errs = append(errs, fmt.Errorf("missing header %s", name))
		}
		return v
	}
	num := func(name string) int64 {
		s := get(name)
		if s == "" {
			return 0
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("header %s: %w", name, err))
		}
		return n
	}
	tm := func(name string) time.Time {
		s := get(name)
		if s == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			errs = append(errs, fmt.Errorf("header %s: %w", name, err))
		}
		return t.UTC()
	}
	hash := func(name string) []byte {
		b, err := hex.DecodeString(get(name))
		if err != nil {
			errs = append(errs, fmt.Errorf("header %s: %w", name, err))
		}
		return b
	}
	r.Position = num(HeaderPosition)
	r.StreamID = get(HeaderStream)
	r.StreamVersion = num(HeaderStreamVersion)
	if id, err := uuid.Parse(get(HeaderEventID)); err != nil {
		errs = append(errs, fmt.Errorf("header %s: %w", HeaderEventID, err))
	} else {
		r.ID = id
	}
	r.Type = get(HeaderType)
	r.SchemaVersion = int(num(HeaderSchemaVersion))
	md, err := base64.StdEncoding.DecodeString(h.Get(HeaderMetadata))
	if err != nil {
		errs = append(errs, fmt.Errorf("header %s: %w", HeaderMetadata, err))
	}
	r.Metadata = md
	r.OccurredAt = tm(HeaderOccurredAt)
	r.RecordedAt = tm(HeaderRecordedAt)
	r.PrevHash = hash(HeaderPrevHash)
	r.Hash = hash(HeaderHash)
	r.Data = data
	if len(errs) > 0 {
		return r, fmt.Errorf("mirror: decode message: %w", errors.Join(errs...))
	}
	return r, nil
}
