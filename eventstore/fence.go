package eventstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// MirrorHead is the last event an external copy of the log (the JetStream
// mirror) holds: its position and the event's id and hash. Position 0 means
// the copy is empty.
type MirrorHead struct {
	Position int64
	ID       uuid.UUID
	Hash     []byte
}

// Fence tells a writer how far the external copy of the log reaches, so that
// the writer never gives a new event a position the copy already holds (a
// forked record). The writer asks before its first append and again whenever
// it finds itself talking to a different database server (a failover).
type Fence interface {
	// MirrorHead returns the copy's last event. An error means the copy's
	// state is unknown: the writer then stays fenced.
	MirrorHead(ctx context.Context) (MirrorHead, error)
}

// ErrFenced is matched (errors.Is) by a *FencedError.
var ErrFenced = errors.New("eventstore: writer fenced")

// FencedError reports that the writer refuses to append because the log
// and its mirror disagree (or the mirror could not be asked): appending
// would give new events positions the mirror already holds. Nothing was
// appended. It ends when the log catches up with the mirror again (see
// `dealcredit recover --from-mirror`).
type FencedError struct {
	// LogHead is the log's last position when the writer checked.
	LogHead int64
	// MirrorHead is the mirror's last position (0 when unknown).
	MirrorHead int64
	// Reason says what is wrong, e.g. "the mirror holds positions the log
	// lacks".
	Reason string
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("eventstore: writer fenced: %s (log head %d, mirror head %d)", e.Reason, e.LogHead, e.MirrorHead)
}

// Is makes errors.Is(err, ErrFenced) true.
func (e *FencedError) Is(target error) bool { return target == ErrFenced }
