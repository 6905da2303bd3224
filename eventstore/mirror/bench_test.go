package mirror_test

import (
	"testing"
	"time"

	"dealcredit/eventstore/mirror"
	"dealcredit/internal/testkit/natstest"
)

// BenchmarkRelay measures how fast the relay copies a pre-appended log of
// 50,000 events (10,000 with -short) from Postgres into the mirror, with the
// embedded server syncing every write (sync_interval: always). Each
// iteration copies the whole log into a fresh server.
func BenchmarkRelay(b *testing.B) {
	n := 50_000
	if testing.Short() {
		n = 10_000
	}
	pool := mustPool(b, mustDatabase(b))
	store := mustStore(b, pool)
	head := appendEvents(b, store, n)
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		srv := natstest.Start(b) // SyncAlways: true
		js := mustJetStream(b, srv.URL())
		relay := mustRelayOpts(b, store, pool, js, mirror.RelayOptions{})
		b.StartTimer()
		start := time.Now()
		stop := runRelay(b, relay)
		waitMirror(b, js, head, 5*time.Minute)
		total += time.Since(start)
		b.StopTimer()
		stop()
		srv.Shutdown()
		srv.WaitForShutdown()
	}
	b.ReportMetric(float64(head)*float64(b.N)/total.Seconds(), "events/s")
	b.ReportMetric(0, "ns/op")
}
