package queue_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// A deploy that prints faster than the disk takes slows its own output,
// never others': while `yes` floods one lane's log into a real database, a
// deploy of another lane runs, ends and keeps its whole log.
func TestFloodSlowsOnlyItsOwnDeploy(t *testing.T) {
	flood := shellEnv("production", `yes "$(printf '%0200d' 7)"`)
	flood.LogCap = 1 << 40 // all of it goes to the store
	quiet := shellEnv("production", `for i in $(seq 1 200); do echo "quiet line $i"; done`)
	q := queuetest.StartIn(t, t.TempDir(), []*queue.App{app("noisy", flood), app("calm", quiet)}, nil)
	ctx := context.Background()

	noisy, err := q.Svc.Submit(ctx, queue.Request{App: "noisy", Ref: sha(1), User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	queuetest.Eventually(t, "the flood fills the store", func() bool {
		lines, _ := q.Store.Log(ctx, noisy.ID, 200000, 1)
		return len(lines) > 0
	})
	calm, err := q.Svc.Submit(ctx, queue.Request{App: "calm", Ref: sha(2), User: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Wait(t, calm.ID); got.State != queue.StateSucceeded {
		t.Fatalf("#%d %s: %s", got.ID, got.State, got.Error)
	}
	if d, _ := q.Svc.Deploy(ctx, noisy.ID); d.State != queue.StateRunning {
		t.Fatalf("the flood ended (%s) before the calm deploy: it proves nothing", d.State)
	}
	_, log := q.Follow(t, calm.ID)
	for i := 1; i <= 200; i++ {
		if !strings.Contains(log, fmt.Sprintf("quiet line %d\n", i)) {
			t.Fatalf("the calm deploy's log lacks line %d:\n%s", i, log)
		}
	}
	if _, err := q.Svc.Cancel(ctx, noisy.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if got := q.Wait(t, noisy.ID); got.State != queue.StateCanceled {
		t.Fatalf("the flood after cancel: %s", got.State)
	}
}
