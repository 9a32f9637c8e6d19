// Package runnertest is the conformance suite every queue.Runner passes:
// one table of cases that calls Runner.Run directly, with a Recorder as
// its queue.Output, against the real thing each runner drives (processes,
// sshd servers, a Kubernetes control plane, the Marathon simulator).
//
// Each runner's tests supply a Harness: its runner, how to make a job
// that succeeds, one that runs and fails, one that cannot run, and a long
// one to stop, with how to tell that it is under way and what it leaves
// behind. The suite holds every runner to the contract of queue.Runner:
// "ran and failed" is a Result, "could not run" an error; a run whose
// context ends returns promptly with the context's error and leaves
// nothing behind; a run that deployq's shutdown stops leaves work that
// goes on by itself outside deployq (a rollout in a cluster) alone.
package runnertest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// Harness is how the suite drives one runner. Each func gets the case's
// own t and makes what the case needs (a workspace, a fleet, a namespace,
// a simulator) for it alone, cleaned up when t ends.
type Harness struct {
	// Runner is the runner under test.
	Runner queue.Runner
	// Succeeds returns a job that runs and succeeds.
	Succeeds func(t *testing.T) queue.Job
	// Fails returns a job that runs and fails: a step exits non-zero, a
	// rollout never becomes healthy.
	Fails func(t *testing.T) queue.Job
	// CannotRun returns a job the runner cannot run at all: settings it
	// cannot use (a key, a kubeconfig, a CA file that is not there).
	CannotRun func(t *testing.T) queue.Job
	// Long returns a job that works until it is stopped.
	Long func(t *testing.T) Long
	// Outlives says the runner's work goes on by itself outside deployq
	// (a rollout in a cluster, a Marathon deployment): deployq's shutdown
	// leaves it as it is, where a cancel undoes it. Without it, a
	// shutdown ends the work as a cancel does.
	Outlives bool
	// StopWithin bounds how long Run may take to return once its context
	// is done: ending processes, undoing a rollout (default 30s). A long
	// job must last far longer.
	StopWithin time.Duration
	// Left, when set, lists what the runner itself started for a run and
	// left running (a process of its own, as the kubernetes runner's
	// deployq-kubernetes); after every case, once Run returned, it must
	// list nothing.
	Left func(t *testing.T) []string
}

// Long is a job that works until it is stopped, and how to look at it.
type Long struct {
	// Job is the job; its work lasts far longer than StopWithin.
	Job queue.Job
	// Started waits until the work is under way (a process runs on every
	// host, a rollout is stuck half way), watching the run's output.
	Started func(t *testing.T, out *Recorder)
	// Ended checks, once Run returned, that nothing of the work is left:
	// no process alive, the rollout undone.
	Ended func(t *testing.T)
	// GoesOn checks, once Run returned from a shutdown, that the work was
	// left as it was, not undone. Only for runners whose work Outlives
	// deployq.
	GoesOn func(t *testing.T)
}

// canceled is the cause of a cancel, as the queue gives one.
var canceled = errors.New("canceled by the conformance suite")

// foreign are settings of no runner.
type foreign struct{}

// Run runs the suite against the runner of h, a subtest per case.
func Run(t *testing.T, h Harness) {
	if h.StopWithin <= 0 {
		h.StopWithin = 30 * time.Second
	}
	cases := []struct {
		name string
		test func(t *testing.T, h Harness)
	}{
		// (b) a run that succeeds says so, with no error.
		{"Succeeds", func(t *testing.T, h Harness) {
			r := start(t.Context(), h, h.Succeeds(t))
			r.wait(t, queuetest.Patience, "")
			if r.err != nil || !r.res.OK {
				t.Fatalf("Run returned %+v, %v: want OK and no error; the log:\n%s", r.res, r.err, r.out.Text())
			}
			r.outputClosed(t)
		}},
		// (a) a run that ran and failed is a Result, not an error, and
		// says why.
		{"RanAndFailed", func(t *testing.T, h Harness) {
			r := start(t.Context(), h, h.Fails(t))
			r.wait(t, queuetest.Patience, "")
			if r.err != nil {
				t.Fatalf("Run returned the error %q: a job that ran and failed is a Result{OK: false}, not an error; the log:\n%s", r.err, r.out.Text())
			}
			if r.res.OK || r.res.Message == "" {
				t.Fatalf("Run returned %+v: want OK false and a message saying why; the log:\n%s", r.res, r.out.Text())
			}
			r.outputClosed(t)
		}},
		// (a) a job that could not run is an error, not a failed Result.
		{"CouldNotRun", func(t *testing.T, h Harness) {
			r := start(t.Context(), h, h.CannotRun(t))
			r.wait(t, queuetest.Patience, "")
			if r.err == nil || r.res.OK {
				t.Fatalf("Run returned %+v, %v: a job that could not run is an error; the log:\n%s", r.res, r.err, r.out.Text())
			}
			r.outputClosed(t)
		}},
		// (a) settings of another runner are "could not run", not a
		// panic and not a failed deploy.
		{"ForeignSettings", func(t *testing.T, h Harness) {
			job := h.Succeeds(t)
			job.Settings = &foreign{}
			r := start(t.Context(), h, job)
			r.wait(t, queuetest.Patience, "")
			if r.err == nil || r.res.OK {
				t.Fatalf("Run returned %+v, %v with settings of no runner: want an error", r.res, r.err)
			}
			r.outputClosed(t)
		}},
		// (c) a cancel returns promptly with ctx's error and leaves
		// nothing behind.
		{"Cancel", func(t *testing.T, h Harness) {
			l := stopLong(t, h, canceled)
			l.Ended(t)
		}},
		// (d) deployq's shutdown leaves work that goes on outside deployq
		// alone, and ends the rest as a cancel does.
		{"Shutdown", func(t *testing.T, h Harness) {
			l := stopLong(t, h, queue.ErrShutdown)
			if h.Outlives {
				l.GoesOn(t)
			} else {
				l.Ended(t)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if h.Left == nil {
					return
				}
				if left := h.Left(t); len(left) > 0 {
					t.Errorf("left running once Run returned: %s", strings.Join(left, ", "))
				}
			}()
			c.test(t, h)
		})
	}
}

// stopLong starts the harness's long job, waits until it is under way,
// ends its context with cause and checks that Run returns within
// StopWithin with the context's error. It returns the job, for the
// caller to look at what is left.
func stopLong(t *testing.T, h Harness, cause error) Long {
	t.Helper()
	l := h.Long(t)
	ctx, stop := context.WithCancelCause(t.Context())
	defer stop(nil)
	r := start(ctx, h, l.Job)
	l.Started(t, r.out)
	select {
	case <-r.done:
		t.Fatalf("the long job ended by itself before it was stopped: %+v, %v; the log:\n%s", r.res, r.err, r.out.Text())
	default:
	}
	stop(cause)
	r.wait(t, h.StopWithin, "once its context was canceled ("+cause.Error()+")")
	if !errors.Is(r.err, context.Canceled) || r.res.OK {
		t.Fatalf("Run returned %+v, %v once its context was canceled: want ctx's error; the log:\n%s", r.res, r.err, r.out.Text())
	}
	r.outputClosed(t)
	return l
}

// running is a call of Run.
type running struct {
	out  *Recorder
	done chan struct{} // closed when Run returned
	res  queue.Result
	err  error
}

// start calls Run with job in a goroutine of its own.
func start(ctx context.Context, h Harness, job queue.Job) *running {
	r := &running{out: NewRecorder(), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.res, r.err = h.Runner.Run(ctx, job, r.out)
		r.out.Ended()
	}()
	return r
}

// wait waits for Run to return, at most d.
func (r *running) wait(t *testing.T, d time.Duration, when string) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(d):
		t.Fatalf("Run did not return within %s %s; the log so far:\n%s", d, when, r.out.Text())
	}
}

// outputClosed checks that Run closed every stream it opened, and wrote
// to none after it closed it.
func (r *running) outputClosed(t *testing.T) {
	t.Helper()
	if open := r.out.Open(); len(open) > 0 {
		t.Errorf("Run returned with streams still open: %v", open)
	}
	seen := r.out.Misuse()
	if len(seen) > 0 {
		t.Errorf("the runner misused its output: %v", seen)
	}
	t.Cleanup(func() {
		if m := r.out.Misuse(); len(m) > len(seen) {
			t.Errorf("the runner reported after Run returned: %v", m[len(seen):])
		}
	})
}
