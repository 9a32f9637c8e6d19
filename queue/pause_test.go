package queue_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// pauser is a runner that pauses once (as a rollout in manual mode does
// after its canary) and reports whether it was continued.
type pauser struct{ paused chan int64 }

func (p *pauser) Run(ctx context.Context, job queue.Job, out queue.Output) (queue.Result, error) {
	out.Progress(queue.Progress{Phase: "canary", Done: 1, Total: 4})
	p.paused <- job.DeployID
	if err := out.Pause(ctx, "canary done"); err != nil {
		return queue.Result{}, err
	}
	return queue.Result{OK: true}, nil
}

// paused waits until the deploy reports the paused phase.
func (e *env) paused(d *queue.Deploy) {
	e.t.Helper()
	queuetest.Eventually(e.t, "the deploy pauses", func() bool {
		p := e.svc.View(d).Progress
		return p != nil && p.Phase == queue.PhasePaused
	})
}

func TestPauseAndContinue(t *testing.T) {
	ctx := context.Background()
	p := &pauser{paused: make(chan int64, 4)}
	clock := queuetest.NewClock(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	env := &queue.Environment{Name: "production", Runner: "pauser", IdleTimeout: 50 * time.Millisecond, Deployers: []string{"alice", "bob"}}
	e := start(t, []*queue.App{app("web", env)}, func(o *queue.Options) {
		o.Runners["pauser"] = p
		o.Clock = clock
		o.RecheckEvery = time.Hour
	})

	d := e.submit(queue.Request{App: "web", Ref: sha(1), User: "alice"})
	<-p.paused
	e.paused(d)
	// Longer than the idle timeout: a pause is not silence. The idle
	// watch has looked (and armed its next look) instead of ending it.
	queuetest.Eventually(t, "the idle watch and the recheck wait on the clock", func() bool { return clock.Pending() == 2 })
	clock.Advance(150 * time.Millisecond)
	queuetest.Eventually(t, "the idle watch looks again", func() bool { return clock.Pending() == 2 })
	if got, _ := e.svc.Deploy(ctx, d.ID); got.State != queue.StateRunning {
		t.Fatalf("paused past the idle timeout: %s %q", got.State, got.Error)
	}
	if _, err := e.svc.Continue(ctx, d.ID, "mallory"); queue.ErrorCode(err) != queue.EForbidden {
		t.Fatalf("mallory: %v", err)
	}
	if _, err := e.svc.Continue(ctx, d.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	got, log := e.wait(d.ID)
	if got.State != queue.StateSucceeded || !strings.Contains(log, "paused: canary done (continue #1 to go on)") || !strings.Contains(log, "continued by bob") {
		t.Fatalf("%s %q\n%s", got.State, got.Error, log)
	}
	if _, err := e.svc.Continue(ctx, d.ID, "bob"); queue.ErrorCode(err) != queue.EConflict {
		t.Fatalf("continue a finished deploy: %v", err)
	}

	// canceled while paused
	d2 := e.submit(queue.Request{App: "web", Ref: sha(2), User: "alice"})
	<-p.paused
	e.paused(d2)
	e.svc.Cancel(ctx, d2.ID, "alice")
	if got, _ := e.wait(d2.ID); got.State != queue.StateCanceled {
		t.Fatalf("%s", got.State)
	}
}
