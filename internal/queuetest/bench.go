package queuetest

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/deployq/deployq/git"
	"github.com/deployq/deployq/queue"
)

// startRunner records when each deploy reached its runner, and ends it at
// once: the benchmark measures the queue, not a deploy script.
type startRunner struct {
	mu      sync.Mutex
	started map[int64]time.Time
	done    chan int64
}

func (r *startRunner) Run(ctx context.Context, job queue.Job, out queue.Output) (queue.Result, error) {
	now := time.Now()
	r.mu.Lock()
	r.started[job.DeployID] = now
	done := r.done
	r.mu.Unlock()
	done <- job.DeployID
	return queue.Result{OK: true}, nil
}

// endings records when each deploy's end was stored (its lane was free
// from then).
type endings struct {
	mu    sync.Mutex
	ended map[int64]time.Time
	done  chan int64
}

func (e *endings) DeployChanged(d *queue.Deploy) {
	if d.State.Terminal() {
		now := time.Now()
		e.mu.Lock()
		defer e.mu.Unlock()
		if _, ok := e.ended[d.ID]; !ok {
			e.ended[d.ID] = now
			e.done <- d.ID
		}
	}
}

func (e *endings) LockChanged(*queue.Lock, bool) {}

// AcceptToStart measures, b.N times on a store from open, 500
// concurrent requests: over 100 app+env pairs (5 a lane), then over 500
// (one a lane), as sub-benchmarks. It reports the median over the rounds
// of each round's p50 and p99:
//   - ack: from the request (Submit called) to its acknowledgement
//     (Submit returned: the deploy is stored);
//   - (no prefix) from the acknowledgement to its runner starting. A lane
//     runs one deploy at a time, so with 5 a lane that time includes the
//     runs of the deploys before it in its lane;
//   - ready: the same leaving those out, from when a deploy could start
//     (acknowledged, and the end of the one before it in its lane stored);
//   - total: from the request to its runner starting.
//
// tweak may set options (a lease, a server name).
func AcceptToStart(b *testing.B, open func(b *testing.B) queue.Store, tweak func(*queue.Options)) {
	for _, pairs := range []int{100, 500} {
		b.Run(fmt.Sprintf("lanes=%d", pairs), func(b *testing.B) { acceptToStart(b, open, tweak, pairs) })
	}
}

func acceptToStart(b *testing.B, open func(b *testing.B) queue.Store, tweak func(*queue.Options), pairs int) {
	const requests = 500
	var acks, accepted, ready, total Rounds
	// One store and one Service for every round, as a server keeps
	// running from one burst to the next; each round waits for the ends
	// of the one before it, and sends refs of its own.
	st := open(b)
	if c, ok := st.(io.Closer); ok {
		defer c.Close()
	}
	var apps []*queue.App
	for i := range pairs / 2 {
		apps = append(apps, &queue.App{Name: fmt.Sprintf("app%d", i), DefaultRef: "main", DefaultEnv: "staging",
			Environments: []*queue.Environment{{Name: "staging", Runner: "r"}, {Name: "production", Runner: "r"}}})
	}
	r := &startRunner{}
	ends := &endings{}
	o := queue.Options{Store: st, Runners: map[string]queue.Runner{"r": r}, Resolver: git.NewResolver(b.TempDir()), MaxParallel: pairs,
		Notifiers: []queue.Notifier{ends}}
	if tweak != nil {
		tweak(&o)
	}
	svc, err := queue.New(apps, o)
	if err != nil {
		b.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer svc.Stop()
	for round := range b.N {
		r.mu.Lock()
		r.started, r.done = map[int64]time.Time{}, make(chan int64, requests)
		r.mu.Unlock()
		ends.mu.Lock()
		ends.ended, ends.done = map[int64]time.Time{}, make(chan int64, requests)
		ends.mu.Unlock()
		asked, acked := map[int64]time.Time{}, map[int64]time.Time{}
		lanes := map[string][]int64{}
		var wg sync.WaitGroup
		for i := range requests {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := apps[i%len(apps)]
				env := a.Environments[(i/len(apps))%2].Name
				sent := time.Now()
				d, err := svc.Submit(context.Background(), queue.Request{App: a.Name, Env: env, Ref: fmt.Sprintf("%040x", round*requests+i+1), User: "bench"})
				if err != nil {
					b.Error(err)
					return
				}
				t := time.Now()
				r.mu.Lock()
				asked[d.ID], acked[d.ID] = sent, t
				lanes[d.App+"/"+d.Env] = append(lanes[d.App+"/"+d.Env], d.ID)
				r.mu.Unlock()
			}()
		}
		wg.Wait()
		if b.Failed() { // a request was refused: its start would never come
			b.FailNow()
		}
		for range requests {
			<-r.done
		}
		for range requests {
			<-ends.done
		}
		var ack, lat, all []float64
		for id, at := range acked {
			d := max(r.started[id].Sub(at), 0) // 0: started before Submit's caller saw the ack
			lat = append(lat, ms(d))
			ack = append(ack, ms(at.Sub(asked[id])))
			all = append(all, ms(r.started[id].Sub(asked[id])))
		}
		acks.Add(ack)
		accepted.Add(lat)
		total.Add(all)
		var waits []float64
		for _, ids := range lanes {
			slices.Sort(ids)
			for i, id := range ids {
				from := acked[id]
				if i > 0 {
					ends.mu.Lock()
					if e := ends.ended[ids[i-1]]; e.After(from) {
						from = e
					}
					ends.mu.Unlock()
				}
				waits = append(waits, ms(max(r.started[id].Sub(from), 0)))
			}
		}
		ready.Add(waits)
	}
	acks.Report(b, "ack-")
	accepted.Report(b, "")
	ready.Report(b, "ready-")
	total.Report(b, "total-")
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
