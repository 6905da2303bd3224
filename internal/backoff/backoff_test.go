package backoff

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestNextDoublesUpToMaxAndResetStartsOver(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name     string
		min, max time.Duration
		want     []time.Duration
	}{
		{"capped", 100 * ms, time.Second, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}},
		{"max below min", 100 * ms, 30 * ms, []time.Duration{30 * ms, 30 * ms}},
		{"min equals max", time.Second, time.Second, []time.Duration{time.Second, time.Second}},
		{"no cap", ms, 0, []time.Duration{ms, 2 * ms, 4 * ms, 8 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Backoff{Min: tt.min, Max: tt.max}
			for round := range 2 {
				var got []time.Duration
				for range tt.want {
					got = append(got, b.Next())
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("round %d: delays %v, want %v", round, got, tt.want)
				}
				b.Reset()
			}
		})
	}
}

func TestWaitEndsWithTheContext(t *testing.T) {
	b := Backoff{Min: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := b.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on an ended context = %v, want context.Canceled", err)
	}
	if waited := time.Since(start); waited > time.Minute {
		t.Errorf("Wait on an ended context took %v", waited)
	}
}

func TestSleepWaitsOutTheDelay(t *testing.T) {
	const d = 20 * time.Millisecond
	start := time.Now()
	if err := Sleep(context.Background(), d); err != nil {
		t.Fatalf("Sleep = %v, want nil", err)
	}
	if waited := time.Since(start); waited < d {
		t.Errorf("Sleep(%v) returned after %v", d, waited)
	}
}
