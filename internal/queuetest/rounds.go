package queuetest

import (
	"slices"
	"testing"
)

// Rounds keeps the p50 and p99 latency of each round of a benchmark and
// reports their medians over the rounds.
type Rounds struct{ p50, p99 []float64 }

// Add takes the latencies of one round, in milliseconds, in any order.
func (r *Rounds) Add(ms []float64) {
	ms = slices.Sorted(slices.Values(ms))
	r.p50 = append(r.p50, ms[len(ms)/2])
	r.p99 = append(r.p99, ms[len(ms)*99/100])
}

// Report reports the medians as PREFIXp50-ms and PREFIXp99-ms.
func (r *Rounds) Report(b *testing.B, prefix string) {
	b.ReportMetric(median(r.p50), prefix+"p50-ms")
	b.ReportMetric(median(r.p99), prefix+"p99-ms")
}

func median(v []float64) float64 {
	v = slices.Sorted(slices.Values(v))
	return v[len(v)/2]
}
