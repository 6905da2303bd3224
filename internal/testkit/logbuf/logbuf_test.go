package logbuf

import (
	"log/slog"
	"sync"
	"testing"
)

func TestConcurrentWritesAndRecords(t *testing.T) {
	var b Buffer
	log := slog.New(slog.NewJSONHandler(&b, nil))
	const writers, each = 4, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				log.Info("tick", "writer", w, "i", i)
				if i%10 == 0 {
					log.Info("other")
				}
			}
		})
	}
	wg.Wait()
	b.Write([]byte("not json\n"))
	ticks := b.Records("tick")
	if len(ticks) != writers*each {
		t.Fatalf("%d tick records, want %d", len(ticks), writers*each)
	}
	if got, want := len(b.Records("other")), writers*each/10; got != want {
		t.Errorf("%d other records, want %d", got, want)
	}
	if ticks[0]["msg"] != "tick" || ticks[0]["writer"] == nil {
		t.Errorf("record %v lacks its fields", ticks[0])
	}
}
