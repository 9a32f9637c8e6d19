package postgres_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
)

// BenchmarkAppendLog: a batch of 4096 lines of 100 bytes (what the queue
// flushes at most at once) per op.
func BenchmarkAppendLog(b *testing.B) {
	s := fresh(b)
	text := strings.Repeat("x", 100)
	seq := int64(0)
	lines := make([]queue.LogLine, 4096)
	b.SetBytes(int64(len(lines) * len(text)))
	for b.Loop() {
		for i := range lines {
			seq++
			lines[i] = queue.LogLine{DeployID: 1, Seq: seq, Time: t0, Stream: queue.StreamStdout, Text: text}
		}
		if err := s.AppendLog(b.Context(), lines); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(seq), "ns/line")
}

// BenchmarkDeployLife: a deploy's writes, from 16 goroutines in lanes of
// their own: created, run with a line, succeeded with another.
func BenchmarkDeployLife(b *testing.B) {
	s := fresh(b)
	var lane sync.Mutex
	next := 0
	b.SetParallelism(8) // 16 goroutines on 2 cores
	b.RunParallel(func(pb *testing.PB) {
		lane.Lock()
		env := fmt.Sprintf("env%d", next)
		next++
		lane.Unlock()
		ctx := b.Context()
		for pb.Next() {
			d := newDeploy("web", env)
			if err := s.CreateDeploy(ctx, d, audit(d)); err != nil {
				b.Fatal(err)
			}
			run := *d
			run.State, run.StartedAt = queue.StateRunning, time.Now()
			line := queue.LogLine{DeployID: d.ID, Seq: 1, Time: run.StartedAt, Stream: queue.StreamSystem, Text: "started"}
			if err := s.UpdateDeploy(ctx, &run, queue.StateQueued, []queue.LogLine{line}); err != nil {
				b.Fatal(err)
			}
			end := run
			end.State, end.FinishedAt = queue.StateSucceeded, time.Now()
			line.Seq, line.Text = 2, "succeeded"
			if err := s.UpdateDeploy(ctx, &end, queue.StateRunning, []queue.LogLine{line}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
