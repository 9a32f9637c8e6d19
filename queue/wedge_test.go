package queue_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// writeCounter counts the writes of deploy states that reach the store.
type writeCounter struct {
	queue.Store
	updates atomic.Int64
}

func (w *writeCounter) UpdateDeploy(ctx context.Context, d *queue.Deploy, from queue.State, lines []queue.LogLine) error {
	w.updates.Add(1)
	return w.Store.UpdateDeploy(ctx, d, from, lines)
}

// A full disk never wedges a lane. The data_dir is a real 2 MB tmpfs; the
// first deploy fills it, so the write of its end fails. Meanwhile the
// deploy shows the end it reached, cancel answers at once, new requests
// are refused as unavailable, the lane's next deploys wait, and nothing
// spins. When space returns, the end lands and the lane goes on, without
// a restart.
func TestFullDiskNeverWedgesALane(t *testing.T) {
	dir := queuetest.MountTmpfs(t, "2m")
	fifo, big := filepath.Join(dir, "go"), filepath.Join(dir, "big")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := fmt.Sprintf(`if [ "$DEPLOY_SHA" = %s ]; then read x < %s; head -c 4000000 /dev/zero > %s 2>/dev/null; echo filled; fi; echo done`,
		sha(1), fifo, big)
	counter := &writeCounter{}
	q := queuetest.StartIn(t, dir, []*queue.App{app("web", shellEnv("production", cmd))}, func(o *queue.Options) {
		counter.Store = o.Store
		o.Store = counter
	})
	ctx := context.Background()
	submit := func(n int) *queue.Deploy {
		d, err := q.Svc.Submit(ctx, queue.Request{App: "web", Ref: sha(n), User: "alice"})
		if err != nil {
			t.Fatalf("submit %d: %v", n, err)
		}
		return d
	}
	filler, second, third := submit(1), submit(2), submit(3)
	queuetest.Eventually(t, "the first deploy runs", func() bool {
		d, _ := q.Store.Deploy(ctx, filler.ID)
		return d.State == queue.StateRunning
	})
	os.WriteFile(fifo, []byte("go\n"), 0) // the deploy fills the disk and ends

	queuetest.Eventually(t, "the database cannot be written, and the first deploy ended", func() bool {
		d, _ := q.Svc.Deploy(ctx, filler.ID)
		return queue.ErrorCode(q.Svc.Health(ctx)) == queue.EUnavailable && d.State.Terminal()
	})
	full := time.Now()
	writesWhenFull := counter.updates.Load()
	if d, _ := q.Store.Deploy(ctx, filler.ID); d.State != queue.StateRunning {
		t.Fatalf("the store has #%d %s: its end should not have been written", d.ID, d.State)
	}
	if d, _ := q.Svc.Deploy(ctx, filler.ID); d.State != queue.StateSucceeded {
		t.Fatalf("#%d shows %s, want the end it reached (succeeded)", d.ID, d.State)
	}
	if _, err := q.Svc.Cancel(ctx, filler.ID, "alice"); queue.ErrorCode(err) != queue.EConflict || err.Error() != "deploy #1 already succeeded" {
		t.Fatalf("cancel while its end is being written: %v", err)
	}
	if _, err := q.Svc.Submit(ctx, queue.Request{App: "web", Ref: sha(4), User: "alice"}); queue.ErrorCode(err) != queue.EUnavailable ||
		err.Error() != "the database cannot be written (disk full)" {
		t.Fatalf("a request while the disk is full: %v", err)
	}
	if d, _ := q.Store.Deploy(ctx, second.ID); d.State != queue.StateQueued {
		t.Fatalf("#%d %s while the lane is busy", d.ID, d.State)
	}
	// The end is retried with a growing wait, never in a loop: after three
	// more tries, far fewer writes than a loop would make in that time.
	queuetest.Eventually(t, "three more tries", func() bool { return counter.updates.Load()-writesWhenFull >= 3 })
	attempts, took := counter.updates.Load()-writesWhenFull, time.Since(full)
	if limit := 5 + int64(took/(50*time.Millisecond)); attempts > limit {
		t.Fatalf("%d writes in %s while the disk was full: it spins", attempts, took)
	}

	if err := os.Remove(big); err != nil { // space comes back
		t.Fatal(err)
	}
	for _, d := range []*queue.Deploy{filler, second, third} {
		if got := q.Wait(t, d.ID); got.State != queue.StateSucceeded {
			t.Fatalf("#%d %s: %s", got.ID, got.State, got.Error)
		}
	}
	if err := q.Svc.Health(ctx); err != nil {
		t.Fatalf("health after space came back: %v", err)
	}
	if d, err := q.Svc.Submit(ctx, queue.Request{App: "web", Ref: sha(5), User: "alice"}); err != nil || q.Wait(t, d.ID).State != queue.StateSucceeded {
		t.Fatalf("a deploy after space came back: %v", err)
	}
	_, log := q.Follow(t, filler.ID)
	if !strings.Contains(log, "deploy #1 succeeded") || !strings.Contains(log, "filled") {
		t.Fatalf("the first deploy's log lost lines:\n%s", log)
	}
}

// A running deploy that no runner of this server holds (its end could
// not be recorded, say) never wedges its lane: the next deploy finds it,
// interrupts it with the reason, and runs. Canceling such a deploy
// answers at once.
func TestOrphanRunningDeployIsRepaired(t *testing.T) {
	e := start(t, []*queue.App{app("web", shellEnv("production", "echo ok"), shellEnv("staging", "echo ok"))}, nil)
	ctx := context.Background()
	orphan := func(env string) *queue.Deploy {
		d := &queue.Deploy{App: "web", Env: env, Ref: sha(1), SHA: sha(1), State: queue.StateRunning, User: "alice",
			Source: queue.SourceAPI, CreatedAt: time.Now(), StartedAt: time.Now()}
		if err := e.store.CreateDeploy(ctx, d, queue.AuditEntry{User: "alice", Action: "deploy"}); err != nil {
			t.Fatal(err)
		}
		return d
	}
	stale := orphan("production")
	next := e.submit(queue.Request{App: "web", Env: "production", Ref: sha(2)})
	if got, log := e.wait(next.ID); got.State != queue.StateSucceeded {
		t.Fatalf("#%d %s: %s\n%s", got.ID, got.State, got.Error, log)
	}
	got, log := e.wait(stale.ID)
	if got.State != queue.StateInterrupted || !strings.Contains(got.Error, "found running with no runner") ||
		!strings.Contains(log, "check production before deploying again") {
		t.Fatalf("the orphan: %s %q\n%s", got.State, got.Error, log)
	}

	lost := orphan("staging")
	d, err := e.svc.Cancel(ctx, lost.ID, "alice")
	if err != nil || d.State != queue.StateCanceled {
		t.Fatalf("cancel an orphan: %v %+v", err, d)
	}
	after := e.submit(queue.Request{App: "web", Env: "staging", Ref: sha(3)})
	if end, log := e.wait(after.ID); end.State != queue.StateSucceeded {
		t.Fatalf("after the canceled orphan: %s\n%s", end.State, log)
	}
}

// blinkingLogs fails the first reads of where a running deploy's log
// ends (its run opening it), as a database that restarts does.
type blinkingLogs struct {
	queue.Store
	fails  atomic.Int32 // reads left to fail
	failed atomic.Int32
}

func (b *blinkingLogs) LastLogSeq(ctx context.Context, id int64) (int64, error) {
	if d, err := b.Store.Deploy(ctx, id); err == nil && d.State == queue.StateRunning && b.fails.Add(-1) >= 0 {
		b.failed.Add(1)
		return 0, queue.Errorf(queue.EUnavailable, "the database cannot be reached or written: connection refused")
	}
	return b.Store.LastLogSeq(ctx, id)
}

// A deploy whose log cannot be opened for a moment once it started (its
// database restarting) runs once the store answers, rather than failing
// without having run.
func TestLogOpenedAfterTheStoreBlinked(t *testing.T) {
	blink := &blinkingLogs{}
	q := queuetest.Start(t, []*queue.App{app("web", shellEnv("production", "echo deployed"))}, func(o *queue.Options) {
		blink.Store = o.Store
		o.Store = blink
	})
	blink.fails.Store(2)
	d, err := q.Svc.Submit(context.Background(), queue.Request{App: "web", Ref: sha(1), User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	queuetest.Eventually(t, "the deploy ended", func() bool { // no follower: the run opens the log itself
		d, err = q.Svc.Deploy(context.Background(), d.ID)
		return err == nil && d.State.Terminal()
	})
	if d.State != queue.StateSucceeded {
		t.Fatalf("#%d %s: %s", d.ID, d.State, d.Error)
	}
	q.WaitLog(t, d.ID, "deployed")
	if n := blink.failed.Load(); n != 2 {
		t.Fatalf("the running deploy's log failed to open %d times, want 2", n)
	}
}
