package mirror

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
)

// Poll bounds of a Watermark while someone waits: the first read is at
// once, the next ones back off from watermarkPollMin to watermarkPollMax
// (and start again at the minimum whenever the mirror advanced).
const (
	watermarkPollMin = 2 * time.Millisecond
	watermarkPollMax = 50 * time.Millisecond
	watermarkReadMax = 2 * time.Second // bound of one stream info request
)

// ErrMirrorDiffers is returned by WaitMirrored when the mirror holds another
// event at the awaited position: the event awaited was lost (a failover to a
// standby that lacked it, and new events took its position after a
// recovery) and will never be mirrored.
var ErrMirrorDiffers = errors.New("mirror: another event holds the position")

// Watermark knows how far DEALCREDIT_EVENTS goes, whichever process runs the
// relay: it reads the stream's last sequence on demand, with one request
// for all the goroutines waiting at the time, polling with a short backoff
// only while someone waits. It is safe for concurrent use.
type Watermark struct {
	js jetstream.JetStream

	mu      sync.Mutex
	last    int64            // the mirror's last sequence at the latest read
	stream  jetstream.Stream // the handle of the latest read
	polling bool             // a poll goroutine runs
	waiters int              // goroutines waiting for the next read
	read    chan struct{}    // closed when the next read is done
}

// NewWatermark returns the watermark of DEALCREDIT_EVENTS read through js.
func NewWatermark(js jetstream.JetStream) *Watermark {
	return &Watermark{js: js, read: make(chan struct{})}
}

// WaitMirrored returns once the mirror holds the event id at position, or
// ctx's error. It returns ErrMirrorDiffers (wrapped) when the mirror holds
// another event there. Position 0 returns at once.
func (w *Watermark) WaitMirrored(ctx context.Context, position int64, id uuid.UUID) error {
	if position <= 0 {
		return nil
	}
	for {
		w.mu.Lock()
		if w.last >= position {
			s := w.stream
			w.mu.Unlock()
			return w.check(ctx, s, position, id)
		}
		read := w.read
		w.waiters++
		if !w.polling {
			w.polling = true
			go w.poll()
		}
		w.mu.Unlock()
		var err error
		select {
		case <-read:
		case <-ctx.Done():
			err = fmt.Errorf("mirror: waiting for position %d (mirror at %d): %w", position, w.Last(), ctx.Err())
		}
		w.mu.Lock()
		w.waiters--
		w.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// Last returns the mirror's last sequence at the latest read.
func (w *Watermark) Last() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// check compares the event id the mirror holds at position with id.
func (w *Watermark) check(ctx context.Context, s jetstream.Stream, position int64, id uuid.UUID) error {
	h, err := headOf(ctx, s, position)
	if err != nil {
		return err
	}
	if h.ID != id {
		return fmt.Errorf("%w: position %d holds event %s, not %s", ErrMirrorDiffers, position, h.ID, id)
	}
	return nil
}

// poll reads the stream's last sequence and wakes the waiters, again and
// again while there are any.
func (w *Watermark) poll() {
	delay := watermarkPollMin
	for {
		ctx, cancel := context.WithTimeout(context.Background(), watermarkReadMax)
		s, err := w.js.Stream(ctx, StreamName)
		cancel()
		w.mu.Lock()
		advanced := false
		if err == nil {
			if last := int64(s.CachedInfo().State.LastSeq); last > w.last {
				w.last, advanced = last, true
			}
			w.stream = s
		}
		close(w.read)
		w.read = make(chan struct{})
		if w.waiters == 0 {
			w.polling = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		if advanced {
			delay = watermarkPollMin
		}
		time.Sleep(delay)
		delay = min(2*delay, watermarkPollMax)
	}
}
