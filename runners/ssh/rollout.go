package ssh

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
	"golang.org/x/crypto/ssh"
)

// rollout is one deploy's plan, the canary then batches, and where each
// host stands.
type rollout struct {
	r        *Runner
	st       *Settings
	job      queue.Job
	out      queue.Output
	sys      io.Writer // the rollout's own lines
	cfg      *ssh.ClientConfig
	hosts    []host
	plan     []int // hosts per batch; the first is the canary
	maxFail  int
	parallel int

	mu       sync.Mutex // states, done and failures, written by a batch's hosts
	states   []hostState
	done     []int // hosts that finished all steps
	failures int
}

// batches plans the rollout: the canary, then batches.
func batches(st *Settings, total int) ([]int, error) {
	canary, batch := 1, (total+3)/4
	var err error
	if st.Canary != "" {
		if canary, err = amount(st.Canary, total); err != nil {
			return nil, err
		}
	}
	if st.Batch != "" {
		if batch, err = amount(st.Batch, total); err != nil {
			return nil, err
		}
	}
	canary, batch = min(max(canary, 1), total), max(batch, 1)
	plan := []int{canary}
	for left := total - canary; left > 0; left -= batch {
		plan = append(plan, min(batch, left))
	}
	return plan, nil
}

// run goes through the plan until its end, a cancel or the brake; it
// returns whether the brake stopped it.
func (ro *rollout) run(ctx context.Context) (braked bool) {
	next := 0
	for b, size := range ro.plan {
		if ctx.Err() != nil {
			return false
		}
		idx := make([]int, size)
		for i := range idx {
			idx[i] = next + i
		}
		next += size
		ro.batch(ctx, b, idx)
		if ro.failures > ro.maxFail {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		switch {
		case b == 0 && len(ro.plan) > 1:
			if ro.st.Bake > 0 {
				fmt.Fprintf(ro.sys, "canary done; baking %s\n", ro.st.Bake)
				ro.failures += ro.bake(ctx, idx)
				if ro.failures > ro.maxFail {
					return true
				}
			}
			if ro.st.Manual && ctx.Err() == nil {
				if err := ro.out.Pause(ctx, fmt.Sprintf("canary done on %d host(s)", ro.plan[0])); err != nil {
					return false
				}
			}
		case ro.st.Pause > 0 && b < len(ro.plan)-1:
			select {
			case <-ctx.Done():
			case <-time.After(ro.st.Pause):
			}
		}
	}
	return false
}

// batch deploys the hosts idx, parallel at most at once. Once more hosts
// have failed than the brake allows, or ctx is done, no new host starts;
// the running ones finish.
func (ro *rollout) batch(ctx context.Context, b int, idx []int) {
	phase := fmt.Sprintf("batch %d/%d", b+1, len(ro.plan))
	ro.out.Progress(queue.Progress{Phase: phase, Done: len(ro.done) + ro.failures, Total: len(ro.hosts)})
	var wg sync.WaitGroup
	sem := make(chan struct{}, ro.parallel)
	for _, i := range idx {
		ro.mu.Lock()
		stop := ro.failures > ro.maxFail
		ro.mu.Unlock()
		if stop || ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			hs := ro.r.deployHost(ctx, ro.hosts[i], ro.cfg, ro.st.Steps, ro.job, ro.out)
			ro.mu.Lock()
			ro.states[i] = hs
			if hs.state == "ok" {
				ro.done = append(ro.done, i)
			} else if ctx.Err() == nil {
				ro.failures++
			}
			d, failures := len(ro.done)+ro.failures, ro.failures
			ro.mu.Unlock()
			ro.out.Progress(queue.Progress{Phase: phase, Done: d, Total: len(ro.hosts), Message: fmt.Sprintf("%d failed", failures)})
		}(i)
	}
	wg.Wait()
}

// bake waits st.Bake after the canary, running its "verify" step (if
// there is one) on the canary hosts a few times meanwhile; a host that
// fails it is marked failed (and changed, so a rollback covers it). It
// returns how many failed.
func (ro *rollout) bake(ctx context.Context, canary []int) int {
	var verify *Step
	for i := range ro.st.Steps {
		if ro.st.Steps[i].Name == "verify" {
			verify = &ro.st.Steps[i]
		}
	}
	deadline := time.Now().Add(ro.st.Bake)
	every := max(ro.st.Bake/3, 100*time.Millisecond)
	failed := 0
	for ctx.Err() == nil {
		wait := min(every, time.Until(deadline))
		if wait <= 0 {
			break
		}
		select {
		case <-ctx.Done():
			return failed
		case <-time.After(wait):
		}
		if verify == nil {
			continue
		}
		for _, i := range canary {
			if ro.states[i].state != "ok" {
				continue
			}
			if hs := ro.r.deployHost(ctx, ro.hosts[i], ro.cfg, []Step{*verify}, ro.job, ro.out); hs.state != "ok" && ctx.Err() == nil {
				ro.states[i] = hostState{state: "failed", step: "bake: verify", detail: hs.detail, changed: true}
				failed++
			}
		}
	}
	return failed
}

// rollBack runs the rollback step on every host the deploy changed, even
// when ctx is done: the brake tripped and they must not stay
// half-deployed. Those are the hosts that finished and those that failed
// after a step started there (an install that ran, a verify that failed);
// hosts never reached, or never connected to, are not touched.
func (ro *rollout) rollBack(ctx context.Context) {
	var changed []int
	for i, hs := range ro.states {
		if hs.changed {
			changed = append(changed, i)
		}
	}
	fmt.Fprintf(ro.sys, "brake: %d failures (more than %d); rolling back %d host(s)\n", ro.failures, ro.maxFail, len(changed))
	rctx := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	sem := make(chan struct{}, ro.parallel)
	for _, i := range changed {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			hs := ro.r.deployHost(rctx, ro.hosts[i], ro.cfg, []Step{*ro.st.Rollback}, ro.job, ro.out)
			was := ro.states[i]
			if hs.state == "ok" {
				ro.states[i] = hostState{state: "rolled back", step: was.step, detail: was.detail}
			} else {
				ro.states[i] = hostState{state: "rollback failed", step: hs.step, detail: hs.detail}
			}
		}(i)
	}
	wg.Wait()
}

// result is how the rollout ended, for the queue.
func (ro *rollout) result(ctx context.Context, braked bool) (queue.Result, error) {
	switch {
	case ctx.Err() != nil:
		return queue.Result{}, ctx.Err()
	case braked:
		return queue.Result{Message: fmt.Sprintf("brake: %d of %d hosts failed (%s)", ro.failures, len(ro.hosts), failedList(ro.hosts, ro.states))}, nil
	case ro.failures > 0:
		return queue.Result{OK: true, Message: fmt.Sprintf("%d host(s) failed, within max_failures", ro.failures)}, nil
	}
	return queue.Result{OK: true}, nil
}
