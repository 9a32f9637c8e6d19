package queue_test

import (
	"context"
	"strings"
	"testing"
	"time"

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

func TestPauseAndContinue(t *testing.T) {
	ctx := context.Background()
	p := &pauser{paused: make(chan int64, 4)}
	env := &queue.Environment{Name: "production", Runner: "pauser", IdleTimeout: 50 * time.Millisecond, Deployers: []string{"alice", "bob"}}
	e := start(t, []*queue.App{app("web", env)}, func(o *queue.Options) { o.Runners["pauser"] = p })

	d := e.submit(queue.Request{App: "web", Ref: sha(1), User: "alice"})
	<-p.paused
	for e.svc.Progress(d.ID) == nil || e.svc.Progress(d.ID).Phase != queue.PhasePaused {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(150 * time.Millisecond) // longer than the idle timeout: a pause is not silence
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
	for e.svc.Progress(d2.ID) == nil || e.svc.Progress(d2.ID).Phase != queue.PhasePaused {
		time.Sleep(5 * time.Millisecond)
	}
	e.svc.Cancel(ctx, d2.ID, "alice")
	if got, _ := e.wait(d2.ID); got.State != queue.StateCanceled {
		t.Fatalf("%s", got.State)
	}
}
