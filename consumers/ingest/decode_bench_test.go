package ingest_test

import (
	"testing"

	"dealcredit/consumers/ingest"
	"dealcredit/consumers/oemfeed"
	"dealcredit/internal/testkit/benchkit"
)

// BenchmarkDecodeUnits measures the consumer's work per message before the
// store: strict decode, validation, the stored encoding, the event id and the
// append request, on generated 3-line invoices. cpu_us/msg is the process's
// CPU time (garbage collection included) per message, steadier than ns/op on
// a shared machine.
func BenchmarkDecodeUnits(b *testing.B) {
	feed := oemfeed.GenerateMessages(oemfeed.GenOptions{Seed: 1, Invoices: 2000, OEMs: []string{"hp"}, Lines: 3})
	bodies := make([][]byte, len(feed))
	for i, g := range feed {
		bodies[i] = g.Body
	}
	b.ReportAllocs()
	start := benchkit.ProcCPU("self")
	b.ResetTimer()
	for b.Loop() {
		if _, err := ingest.InvoiceUnits("hp", bodies); err != nil {
			b.Fatal(err)
		}
	}
	cpu := benchkit.ProcCPU("self") - start
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*len(bodies)), "cpu_us/msg")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(bodies))/1000, "us/msg")
}
