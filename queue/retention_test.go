package queue_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// An environment that keeps logs 90 days has older ones pruned to their
// last lines by itself; on demand, an admin prunes everywhere, and only
// an admin.
func TestLogRetention(t *testing.T) {
	clock := queuetest.NewClock(time.Date(2026, 8, 1, 10, 0, 0, 0, time.UTC))
	kept := shellEnv("staging", `i=0; while [ $i -lt 500 ]; do echo "line $i"; i=$((i+1)); done`)
	kept.LogRetention = 90 * 24 * time.Hour
	forever := shellEnv("production", `i=0; while [ $i -lt 500 ]; do echo "line $i"; i=$((i+1)); done`)
	e := start(t, []*queue.App{app("web", kept, forever)}, func(o *queue.Options) {
		o.Clock = clock
		o.Admins = []string{"root"}
	})
	ctx := context.Background()
	old := e.submit(queue.Request{App: "web", Env: "staging", Ref: sha(1)})
	prod := e.submit(queue.Request{App: "web", Env: "production", Ref: sha(1)})
	e.wait(old.ID)
	e.wait(prod.ID)

	clock.Advance(91 * 24 * time.Hour) // the first pass runs a minute after the start: long past
	queuetest.Eventually(t, "the old staging log is pruned", func() bool {
		lines, _ := e.svc.Log(ctx, old.ID, 0, -1)
		return len(lines) > 0 && strings.HasPrefix(lines[0].Text, "log pruned on 2026-10-31")
	})
	lines, _ := e.svc.Log(ctx, old.ID, 0, -1)
	if len(lines) != 101 || !strings.Contains(lines[len(lines)-1].Text, "succeeded") {
		t.Fatalf("the pruned log: %d lines, last %q", len(lines), lines[len(lines)-1].Text)
	}
	if lines, _ := e.svc.Log(ctx, prod.ID, 0, -1); len(lines) < 500 {
		t.Fatalf("production keeps its logs forever: %d lines left", len(lines))
	}

	if _, err := e.svc.PruneLogs(ctx, "alice", 24*time.Hour, false); queue.ErrorCode(err) != queue.EForbidden {
		t.Fatalf("alice prunes: %v", err)
	}
	rep, err := e.svc.PruneLogs(ctx, "root", 24*time.Hour, true)
	if err != nil || rep.Deploys != 1 {
		t.Fatalf("a dry run: %+v %v", rep, err)
	}
	if rep, err := e.svc.PruneLogs(ctx, "root", 24*time.Hour, false); err != nil || rep.Deploys != 1 || rep.Lines < 400 {
		t.Fatalf("on demand: %+v %v", rep, err)
	}
	if lines, _ := e.svc.Log(ctx, prod.ID, 0, -1); len(lines) != 101 {
		t.Fatalf("production after an admin's prune: %d lines", len(lines))
	}
}
