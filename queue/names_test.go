package queue_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// What teams coming from other tools type: owner/repo for the app of that
// repo, aliases for environments; and production never taken as a silent
// default when it must be named.
func TestNamesTeamsType(t *testing.T) {
	staging := shellEnv("staging", "true")
	prod := shellEnv("production", "true")
	prod.Aliases = []string{"prod"}
	prod.RequireExplicit = true
	web := app("web", prod, staging)
	web.Repo = "acme/web"
	e := start(t, []*queue.App{web}, nil)
	ctx := context.Background()

	_, err := e.svc.Submit(ctx, queue.Request{App: "web", Ref: sha(1), User: "alice"})
	if queue.ErrorCode(err) != queue.EInvalid || err.Error() != "say where: web's default environment production must be named (deploy web to production)" {
		t.Fatalf("a deploy to the default environment that must be named: %v", err)
	}
	if _, err := e.svc.Rollback(ctx, queue.RollbackRequest{App: "web", User: "alice"}); queue.ErrorCode(err) != queue.EInvalid {
		t.Fatalf("a rollback of the default environment that must be named: %v", err)
	}
	d := e.submit(queue.Request{App: "acme/web", Env: "prod", Ref: sha(1)})
	if d.App != "web" || d.Env != "production" {
		t.Fatalf("acme/web to prod became %s to %s", d.App, d.Env)
	}
	l, _, err := e.svc.Lock(ctx, queue.LockRequest{Env: "prod", App: "acme/web", Owner: "alice"})
	if err != nil || l.Env != "production" || l.App != "web" {
		t.Fatalf("lock acme/web in prod: %+v %v", l, err)
	}
	if _, err := e.svc.Unlock(ctx, "prod", "acme/web", "alice"); err != nil {
		t.Fatalf("unlock by alias: %v", err)
	}
	if _, err := e.svc.Promote(ctx, queue.PromoteRequest{App: "web", From: "prod", To: "production", User: "alice"}); queue.ErrorCode(err) != queue.EInvalid {
		t.Fatalf("a promotion from an environment to itself, by its alias: %v", err)
	}
}

// A freeze window read in a zone says its times in that zone.
func TestFreezeWindowInAZone(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	clock := queuetest.NewClock(time.Date(2026, 11, 27, 18, 30, 0, 0, time.UTC)) // Fri 19:30 in Paris
	prod := shellEnv("production", "true")
	w := window(t, "CRON_TZ=Europe/Paris 0 18 * * FRI", 62*time.Hour, "weekend")
	w.Location = paris
	prod.Freeze = []queue.FreezeWindow{w}
	e := start(t, []*queue.App{app("web", prod)}, func(o *queue.Options) { o.Clock = clock })
	_, err = e.svc.Submit(context.Background(), queue.Request{App: "web", Ref: sha(1), User: "alice"})
	if queue.ErrorCode(err) != queue.EFrozen || !strings.Contains(err.Error(), "until Mon 30 Nov 08:00 CET") {
		t.Fatalf("%v", err)
	}
}
