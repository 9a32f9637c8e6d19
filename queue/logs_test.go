package queue_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// A follower that stalls is dropped by the hub and catches up from the
// store: it still sees every line once, in order.
func TestSlowFollowerCatchesUp(t *testing.T) {
	const n = 30000
	e := start(t, []*queue.App{app("web", shellEnv("staging", fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo "line $i"; i=$((i+1)); done`, n)))}, nil)
	d := e.submit(queue.Request{App: "web", Ref: sha(1)})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var next int
	var seq int64
	stalled := false
	got, err := e.svc.FollowLog(ctx, d.ID, 0, func(lines []queue.LogLine) error {
		if !stalled { // fall far behind: the runner writes on
			stalled = true
			queuetest.Eventually(t, "the runner writes past the follower's buffer", func() bool {
				n, err := e.store.LastLogSeq(ctx, d.ID)
				return err == nil && n > 20000
			})
		}
		for _, l := range lines {
			if l.Seq != seq+1 {
				return fmt.Errorf("seq %d after %d", l.Seq, seq)
			}
			seq = l.Seq
			if l.Stream != queue.StreamStdout {
				continue
			}
			if want := fmt.Sprintf("line %d", next); l.Text != want {
				return fmt.Errorf("got %q, want %q", l.Text, want)
			}
			next++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.State != queue.StateSucceeded || next != n {
		t.Fatalf("%s, %d lines of %d", got.State, next, n)
	}
}
