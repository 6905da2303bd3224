package oemfeed_test

import (
	"testing"

	"dealcredit/consumers/oemfeed"
)

// BenchmarkDecode measures the strict decoder on generated 3-line invoices.
func BenchmarkDecode(b *testing.B) {
	feed := oemfeed.GenerateMessages(oemfeed.GenOptions{Seed: 1, Invoices: 1000, OEMs: []string{"hp"}, Lines: 3})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := oemfeed.Decode("oem.hp.invoices", feed[i%len(feed)].Body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "us/msg")
}
