package mirror

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/eventstore"
)

// Fence is the eventstore.Fence of the JetStream mirror: the Postgres
// writer asks it for the mirror's last event before appending on a database
// server it has not checked (pgstore.Options.Fence).
type Fence struct {
	js jetstream.JetStream
}

var _ eventstore.Fence = (*Fence)(nil)

// NewFence returns the fence reading DEALCREDIT_EVENTS through js.
func NewFence(js jetstream.JetStream) *Fence { return &Fence{js: js} }

// MirrorHead returns the mirror's last event (position 0 when the stream is
// empty or does not exist yet).
func (f *Fence) MirrorHead(ctx context.Context) (eventstore.MirrorHead, error) {
	s, last, err := openMirror(ctx, f.js)
	if err != nil || s == nil {
		return eventstore.MirrorHead{}, err
	}
	return headOf(ctx, s, last)
}

// openMirror returns the DEALCREDIT_EVENTS stream and its last sequence, or
// a nil stream when it does not exist yet.
func openMirror(ctx context.Context, js jetstream.JetStream) (jetstream.Stream, int64, error) {
	s, err := js.Stream(ctx, StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("mirror: stream %s: %w", StreamName, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("mirror: stream %s info: %w", StreamName, err)
	}
	return s, int64(info.State.LastSeq), nil
}

// headOf reads the id and hash of the mirror's message at sequence last.
func headOf(ctx context.Context, s jetstream.Stream, last int64) (eventstore.MirrorHead, error) {
	if last == 0 {
		return eventstore.MirrorHead{}, nil
	}
	msg, err := s.GetMsg(ctx, uint64(last))
	if err != nil {
		return eventstore.MirrorHead{}, fmt.Errorf("mirror: read message %d: %w", last, err)
	}
	id, err := uuid.Parse(msg.Header.Get(HeaderEventID))
	if err != nil {
		return eventstore.MirrorHead{}, fmt.Errorf("mirror: message %d: header %s: %w", last, HeaderEventID, err)
	}
	hash, err := hex.DecodeString(msg.Header.Get(HeaderHash))
	if err != nil || len(hash) == 0 {
		return eventstore.MirrorHead{}, fmt.Errorf("mirror: message %d: header %s %q unreadable", last, HeaderHash, msg.Header.Get(HeaderHash))
	}
	return eventstore.MirrorHead{Position: last, ID: id, Hash: hash}, nil
}
