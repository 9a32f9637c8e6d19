package queue_test

import (
	"context"
	"strings"
	"testing"

	"github.com/deployq/deployq/queue"
)

// A sha marked bad: an auto-deploy of it is refused and recorded, saying
// why; a typed deploy needs !; after the unmark it deploys. Only the
// deployers mark.
func TestBadSHAs(t *testing.T) {
	ctx := context.Background()
	staging := shellEnv("staging", "true")
	staging.Deployers = []string{"alice", "ci"}
	e := start(t, []*queue.App{app("web", staging)}, nil)
	if _, err := e.svc.MarkBad(ctx, "web", sha(1), "mallory", "no reason"); queue.ErrorCode(err) != queue.EForbidden {
		t.Fatalf("mallory's mark: %v", err)
	}
	if _, err := e.svc.MarkBad(ctx, "web", sha(1), "alice", "broke checkout"); err != nil {
		t.Fatal(err)
	}
	d, err := e.svc.Submit(ctx, queue.Request{App: "web", Ref: "main", SHA: sha(1), User: "ci", Source: queue.SourceAuto})
	if queue.ErrorCode(err) != queue.EConflict || d == nil || d.State != queue.StateFailed ||
		!strings.HasPrefix(d.Error, "auto-deploy refused: 0000000 is marked bad for web by alice") || !strings.HasSuffix(d.Error, ": broke checkout") {
		t.Fatalf("the auto-deploy: %v %+v", err, d)
	}
	if _, err := e.svc.Submit(ctx, queue.Request{App: "web", Ref: sha(1), User: "alice"}); queue.ErrorCode(err) != queue.EConflict ||
		!strings.Contains(err.Error(), "(deploy!, or --force, deploys it anyway)") {
		t.Fatalf("a typed deploy: %v", err)
	}
	if d, err := e.svc.Submit(ctx, queue.Request{App: "web", Ref: sha(1), User: "alice", Force: true}); err != nil {
		t.Fatalf("deploy!: %v", err)
	} else if got, _ := e.wait(d.ID); got.State != queue.StateSucceeded {
		t.Fatalf("deploy!: %+v", got)
	}
	if marks, err := e.svc.BadSHAs(ctx, "web"); err != nil || len(marks) != 1 || marks[0].User != "alice" {
		t.Fatalf("marks %v %+v", err, marks)
	}
	if _, err := e.svc.UnmarkBad(ctx, "web", sha(1), "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UnmarkBad(ctx, "web", sha(1), "alice"); queue.ErrorCode(err) != queue.ENotFound {
		t.Fatalf("a second unmark: %v", err)
	}
	if d, err := e.svc.Submit(ctx, queue.Request{App: "web", Ref: "main", SHA: sha(1), User: "ci", Source: queue.SourceAuto}); err != nil {
		t.Fatalf("after the unmark: %v %+v", err, d)
	}
}
