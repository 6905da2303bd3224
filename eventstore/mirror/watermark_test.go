package mirror_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"dealcredit/eventstore/mirror"
	"dealcredit/internal/testkit/natstest"
)

// TestWatermark: WaitMirrored waits (many waiters at once) until a relay
// has mirrored the position, names a different event at the position
// (ErrMirrorDiffers), and gives up with ctx.
func TestWatermark(t *testing.T) {
	pool := mustPool(t, mustDatabase(t))
	store := mustStore(t, pool)
	js := mustJetStream(t, natstest.Start(t).URL())
	w := mirror.NewWatermark(js)
	head := appendEvents(t, store, 30)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs, err := store.ReadAll(ctx, 0, int(head))
	if err != nil {
		t.Fatal(err)
	}

	// No relay yet (no stream at all): the wait ends with ctx.
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	err = w.WaitMirrored(short, head, recs[head-1].ID)
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait without a relay = %v, want a deadline error", err)
	}

	// Waiters started before the relay all return once it has mirrored.
	errs := make([]error, len(recs))
	var wg sync.WaitGroup
	for i, r := range recs {
		wg.Go(func() { errs[i] = w.WaitMirrored(ctx, r.Position, r.ID) })
	}
	runRelay(t, mustRelay(t, store, pool, js, nil))
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("wait for position %d: %v", recs[i].Position, err)
		}
	}
	if w.Last() < head {
		t.Fatalf("watermark at %d, want >= %d", w.Last(), head)
	}

	if err := w.WaitMirrored(ctx, head, uuid.New()); !errors.Is(err, mirror.ErrMirrorDiffers) {
		t.Fatalf("wait for another event at %d = %v, want ErrMirrorDiffers", head, err)
	}
	if err := w.WaitMirrored(ctx, 0, uuid.Nil); err != nil {
		t.Fatalf("wait for position 0 = %v", err)
	}
}
