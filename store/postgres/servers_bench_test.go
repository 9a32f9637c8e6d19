package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/deployq/deployq/git"
	"github.com/deployq/deployq/internal/pgtest"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// BenchmarkAcceptToStart: 500 concurrent requests across 100 app+env pairs
// on PostgreSQL, leases on (as when several servers share it); reports
// the p50 and p99 time from a request's acknowledgement to its runner
// starting. BenchmarkAcceptToStart in queue/ is the same on SQLite.
func BenchmarkAcceptToStart(b *testing.B) {
	queuetest.AcceptToStart(b, func(b *testing.B) queue.Store { return fresh(b) }, func(o *queue.Options) {
		o.Server, o.Lease = "bench-1", 15*time.Second
	})
}

// printer writes a line every few milliseconds, lines times over, each
// saying when it was written.
type printer struct {
	lines int
	every time.Duration
}

func (p printer) Run(ctx context.Context, job queue.Job, out queue.Output) (queue.Result, error) {
	w := out.Stream(queue.StreamStdout, "")
	defer w.Close()
	for i := range p.lines {
		fmt.Fprintf(w, "line %d\n", i)
		select {
		case <-ctx.Done():
			return queue.Result{}, ctx.Err()
		case <-time.After(p.every):
		}
	}
	return queue.Result{OK: true}, nil
}

// BenchmarkFollowerLag: a deploy runs on one server and prints a line
// every 5ms for a second; its log is followed through another server on
// the same database. Reports the p50 and p99 time from a line's stamp
// (when the running server took it) to the follower getting it.
func BenchmarkFollowerLag(b *testing.B) {
	dsn := pgtest.New(b)
	apps := []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "prod", Environments: []*queue.Environment{{Name: "prod", Runner: "p"}}}}
	start := func(name string) *queue.Service {
		svc, err := queue.New(apps, queue.Options{Store: open(b, dsn), Runners: map[string]queue.Runner{"p": printer{lines: 200, every: 5 * time.Millisecond}},
			Resolver: git.NewResolver(b.TempDir()), Server: name, Lease: 15 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		if err := svc.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(svc.Stop)
		return svc
	}
	runs, follows := start("bench-1"), start("bench-2")
	var lags []float64
	var mu sync.Mutex
	for n := range b.N {
		d, err := runs.Submit(context.Background(), queue.Request{App: "web", Env: "prod", Ref: fmt.Sprintf("%040x", n+1), User: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		_, err = follows.FollowLog(context.Background(), d.ID, 0, func(lines []queue.LogLine) error {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			for _, l := range lines {
				if l.Stream == queue.StreamStdout {
					lags = append(lags, float64(now.Sub(l.Time))/float64(time.Millisecond))
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	slices.Sort(lags)
	if len(lags) == 0 {
		b.Fatal("the follower got no line")
	}
	b.ReportMetric(lags[len(lags)/2], "p50-ms")
	b.ReportMetric(lags[len(lags)*99/100], "p99-ms")
}
