package store

import (
	"testing"

	"github.com/deployq/deployq/queue"
)

// What runs in a lane: a read is kept unless a succeeded deploy of the
// lane was written while it ran; writes keep what is known up to date,
// never with an older deploy, an operation or another state.
func TestLaneCurrents(t *testing.T) {
	c := newLaneCurrents()
	succeeded := func(id int64, sha, op string) *queue.Deploy {
		return &queue.Deploy{ID: id, App: "web", Env: "prod", SHA: sha, Op: op, State: queue.StateSucceeded}
	}
	_, known, v := c.get("web", "prod")
	if known {
		t.Fatal("known before any read")
	}
	c.stored(succeeded(7, "b", "")) // while the read ran
	c.fill("web", "prod", v, 5, "a")
	if _, known, _ := c.get("web", "prod"); known {
		t.Fatal("a read that raced a write was kept")
	}
	_, _, v = c.get("web", "prod")
	c.fill("web", "prod", v, 7, "b")
	for _, d := range []*queue.Deploy{succeeded(6, "old", ""), succeeded(9, "restart", "restart"),
		{ID: 10, App: "web", Env: "prod", SHA: "failed", State: queue.StateFailed}, succeeded(11, "c", "")} {
		c.stored(d)
	}
	c.stored(&queue.Deploy{ID: 12, App: "web", Env: "qa", SHA: "qa", State: queue.StateSucceeded})
	if sha, known, _ := c.get("web", "prod"); !known || sha != "c" {
		t.Fatalf("after the writes: %q, %v; want c", sha, known)
	}
}
