// Package backoff is the delay between retries of a transient failure (a
// database or broker away): it starts at Min, doubles after each retry up to
// Max, and starts over at Min after a success. The ingest consumers, the
// projection runners, the mirror relay and the OEM watch all retry with it.
package backoff

import (
	"context"
	"time"
)

// Backoff is an exponential retry delay. Set Min and Max (Max 0: no cap);
// the zero value of the rest is ready to use. It is not safe for concurrent
// use: each retry loop has its own.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Next returns the delay before the next retry: Min at first, then twice
// the previous delay, never more than Max.
func (b *Backoff) Next() time.Duration {
	if b.cur == 0 {
		b.cur = b.Min
	} else {
		b.cur *= 2
	}
	if b.Max > 0 {
		b.cur = min(b.cur, b.Max)
	}
	return b.cur
}

// Reset makes the next delay Min again; call it after a success.
func (b *Backoff) Reset() { b.cur = 0 }

// Wait sleeps for Next(). It returns ctx.Err() when ctx ends first.
func (b *Backoff) Wait(ctx context.Context) error { return Sleep(ctx, b.Next()) }

// Sleep waits for d or until ctx ends; it returns ctx.Err() in the latter
// case.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
