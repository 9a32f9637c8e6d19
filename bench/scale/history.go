package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/store"
)

// history builds a year of deploys through the store's own API.
type history struct {
	o      options
	corpus []string
	lanes  []lane
	year   time.Time // when the history starts
}

type lane struct{ app, env string }

func newHistory(o options, corpus []string) *history {
	h := &history{o: o, corpus: corpus, year: time.Now().Add(-365 * 24 * time.Hour).UTC()}
	for a := range o.apps {
		for e := range o.envs {
			h.lanes = append(h.lanes, lane{fmt.Sprintf("app%03d", a), fmt.Sprintf("env%d", e)})
		}
	}
	return h
}

type sizes struct{ deployBytes, logBytes, rawBytes int64 }

// build makes the database, each deploy queued, run with its log, and
// ended, as a server would. To tell the logs' share of the file, the same
// deploys without logs are built beside it.
func (h *history) build(ctx context.Context, file string) (sizes, error) {
	var sz sizes
	bare := file + ".bare"
	defer os.Remove(bare)
	if _, err := h.deploys(ctx, bare, false); err != nil {
		return sz, err
	}
	raw, err := h.deploys(ctx, file, true)
	if err != nil {
		return sz, err
	}
	if sz.deployBytes, err = fileSize(bare); err != nil {
		return sz, err
	}
	total, err := fileSize(file)
	sz.logBytes, sz.rawBytes = total-sz.deployBytes, raw
	return sz, err
}

// fileSize is the database's size once its write-ahead log is folded in
// (closing the store checkpoints it).
func fileSize(file string) (int64, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

const workers = 32

// deploys records o.deploys deploys spread over the lanes and the year,
// each queued, run (with its log, if logs) and ended as the queue would,
// and returns how many bytes of output their logs hold.
func (h *history) deploys(ctx context.Context, file string, logs bool) (int64, error) {
	st, err := store.Open(ctx, file)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	var next, raw atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	per := max(1, h.o.lines/h.o.deploys)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			var mine []lane // each worker keeps to its own lanes: one runs at a time per lane
			for k := w; k < len(h.lanes); k += workers {
				mine = append(mine, h.lanes[k])
			}
			if len(mine) == 0 {
				return
			}
			for n := 0; ; n++ {
				i := int(next.Add(1)) - 1
				if i >= h.o.deploys {
					return
				}
				// Most logs are short and a few long, as deploys go: lengths
				// drawn from an exponential of mean per.
				b, err := h.deploy(ctx, st, r, i, mine[n%len(mine)], min(int(r.ExpFloat64()*float64(per)), 50*per), logs)
				if err != nil {
					errs <- err
					return
				}
				raw.Add(b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return raw.Load(), st.Settle(ctx) // what a server keeps once it has packed the short logs
}

// deploy records one deploy of n lines of output (written only if logs).
func (h *history) deploy(ctx context.Context, st *store.Store, r *rand.Rand, i int, l lane, n int, logs bool) (int64, error) {
	at := h.year.Add(time.Duration(i) * (365 * 24 * time.Hour / time.Duration(h.o.deploys)))
	sources := []queue.Source{queue.SourceChat, queue.SourceAuto, queue.SourceAuto, queue.SourceAPI, queue.SourceGitHub, queue.SourceRollback}
	d := &queue.Deploy{App: l.app, Env: l.env, Ref: "main", SHA: fmt.Sprintf("%040x", r.Uint64()), State: queue.StateQueued,
		User: fmt.Sprintf("user%02d", r.IntN(50)), Source: sources[r.IntN(len(sources))], CreatedAt: at}
	if err := st.CreateDeploy(ctx, d, queue.AuditEntry{Time: at, User: d.User, Action: "deploy"}); err != nil {
		return 0, err
	}
	run := *d
	run.State, run.StartedAt = queue.StateRunning, at.Add(2*time.Second)
	if err := st.UpdateDeploy(ctx, &run, queue.StateQueued, nil); err != nil {
		return 0, err
	}
	lines := h.log(r, d.ID, n, run.StartedAt) // drawn either way, so both builds draw alike
	var raw int64
	for _, l := range lines {
		raw += int64(len(l.Text))
	}
	if logs { // written as a runner writes: a few lines at a time
		for k := 0; k < len(lines)-1; {
			m := min(len(lines)-1-k, 1+r.IntN(16))
			if err := st.AppendLog(ctx, lines[k:k+m]); err != nil {
				return 0, err
			}
			k += m
		}
	} else {
		for k := 0; k < len(lines)-1; {
			k += min(len(lines)-1-k, 1+r.IntN(16))
		}
	}
	end := run
	end.State, end.FinishedAt = queue.StateSucceeded, run.StartedAt.Add(time.Duration(30+r.IntN(300))*time.Second)
	switch n := r.IntN(100); {
	case n < 8:
		end.State, end.Error = queue.StateFailed, "exit status 1"
	case n < 10:
		end.State, end.Error = queue.StateCanceled, "canceled by "+d.User
	}
	var last []queue.LogLine // the end and its line, in one write
	if logs {
		last = lines[len(lines)-1:]
	}
	return raw, st.UpdateDeploy(ctx, &end, queue.StateRunning, last)
}

// log is n lines of real output, starting at a random place of the
// corpus; a third of the deploys run on hosts.
func (h *history) log(r *rand.Rand, id int64, n int, at time.Time) []queue.LogLine {
	out := make([]queue.LogLine, 0, n+2)
	host := ""
	hosts := r.IntN(3) == 0
	start := r.IntN(len(h.corpus))
	out = append(out, queue.LogLine{DeployID: id, Seq: 1, Time: at, Stream: queue.StreamSystem, Text: fmt.Sprintf("deploy #%d: web@main by user, runner shell", id)})
	for i := range n {
		if hosts {
			host = fmt.Sprintf("web-%02d.internal", i%12)
		}
		stream := queue.StreamStdout
		if r.IntN(20) == 0 {
			stream = queue.StreamStderr
		}
		at = at.Add(time.Duration(r.IntN(200)) * time.Millisecond)
		out = append(out, queue.LogLine{DeployID: id, Seq: int64(len(out) + 1), Time: at, Stream: stream, Host: host,
			Text: h.corpus[(start+i)%len(h.corpus)]})
	}
	return append(out, queue.LogLine{DeployID: id, Seq: int64(len(out) + 1), Time: at, Stream: queue.StreamSystem, Text: fmt.Sprintf("deploy #%d succeeded in 42s", id)})
}
