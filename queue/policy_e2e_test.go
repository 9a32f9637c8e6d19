package queue_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
	"github.com/robfig/cron/v3"
)

// The release rules together, end to end, on real SQLite and the real
// shell runner, with the clock injected: no sleeps.

func window(t *testing.T, spec string, d time.Duration, reason string) queue.FreezeWindow {
	t.Helper()
	s, err := cron.ParseStandard(spec)
	if err != nil {
		t.Fatal(err)
	}
	return queue.FreezeWindow{Spec: spec, Schedule: s, Duration: d, Reason: reason}
}

// waitState waits (bounded) until the deploy is in one of states.
func (e *env) waitState(id int64, states ...queue.State) *queue.Deploy {
	e.t.Helper()
	var d *queue.Deploy
	queuetest.Eventually(e.t, fmt.Sprintf("#%d reaches %v", id, states), func() bool {
		var err error
		if d, err = e.svc.Deploy(context.Background(), id); err != nil {
			e.t.Fatal(err)
		}
		return slices.Contains(states, d.State)
	})
	return d
}

// A green staging deploy is promoted to production after its soak,
// exactly its sha, with source promotion; a soak broken by a failed
// deploy promotes nothing.
func TestPromotionAfterSoak(t *testing.T) {
	clock := queuetest.NewClock(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	staging := shellEnv("staging", `test "$DEPLOY_SHA" != `+sha(9))
	staging.Promote = &queue.Promotion{To: "production", Soak: 30 * time.Minute}
	e := start(t, []*queue.App{app("web", staging, shellEnv("production", "true"))}, func(o *queue.Options) { o.Clock = clock })
	ctx := context.Background()

	d := e.submit(queue.Request{App: "web", Env: "staging", Ref: sha(1), User: "alice"})
	if got, log := e.wait(d.ID); got.State != queue.StateSucceeded {
		t.Fatalf("%s %s", got.State, log)
	}
	e.waitTimers(clock, 1)
	clock.Advance(29 * time.Minute)
	if ds, _ := e.svc.Deploys(ctx, queue.DeployFilter{App: "web", Env: "production"}); len(ds) != 0 {
		t.Fatalf("promoted before the soak ended: %+v", ds[0])
	}
	clock.Advance(time.Minute)
	p := e.waitDeployIn("web", "production")
	got, log := e.wait(p.ID)
	if got.State != queue.StateSucceeded || got.SHA != sha(1) || got.Source != queue.SourcePromotion || got.User != "alice" {
		t.Fatalf("promotion: %+v\n%s", got, log)
	}
	if !strings.Contains(log, "promotion of #1: "+sha(1)+" (0000000), succeeded in staging") {
		t.Errorf("log:\n%s", log)
	}

	// sha(2) succeeds, then sha(9) fails in staging during the soak: no promotion
	d2 := e.submit(queue.Request{App: "web", Env: "staging", Ref: sha(2), User: "alice"})
	e.wait(d2.ID)
	e.waitTimers(clock, 1)
	d9 := e.submit(queue.Request{App: "web", Env: "staging", Ref: sha(9), User: "alice"})
	if got, _ := e.wait(d9.ID); got.State != queue.StateFailed {
		t.Fatalf("#%d %s", got.ID, got.State)
	}
	clock.Advance(31 * time.Minute)
	var audit []queue.AuditEntry
	queuetest.Eventually(t, "a promotion-skipped entry", func() bool {
		audit, _ = e.svc.AuditLog(ctx, 5)
		return len(audit) > 0 && audit[0].Action == "promotion-skipped"
	})
	if !strings.Contains(audit[0].Detail, "not promoted to production: #4 failed in staging during the soak") {
		t.Fatalf("promotion skipped: %+v", audit[0])
	}
	if ds, _ := e.svc.Deploys(ctx, queue.DeployFilter{App: "web", Env: "production"}); len(ds) != 1 {
		t.Fatalf("%d deploys in production, want only the first promotion", len(ds))
	}
}

// waitTimers waits (bounded) until the clock has n pending timers: a
// promotion or a wake-up was scheduled.
func (e *env) waitTimers(c *queuetest.Clock, n int) {
	e.t.Helper()
	queuetest.Eventually(e.t, fmt.Sprintf("%d timers pending", n), func() bool { return c.Pending() >= n })
}

func (e *env) waitDeployIn(app, envName string) *queue.Deploy {
	e.t.Helper()
	var d *queue.Deploy
	queuetest.Eventually(e.t, "a deploy in "+envName, func() bool {
		ds, _ := e.svc.Deploys(context.Background(), queue.DeployFilter{App: app, Env: envName})
		if len(ds) > 0 {
			d = ds[0]
		}
		return d != nil
	})
	return d
}

// Promotion schedules: after the soak, at the next scheduled time only.
func TestPromotionSchedule(t *testing.T) {
	clock := queuetest.NewClock(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	staging := shellEnv("staging", "true")
	sched, _ := cron.ParseStandard("0 14 * * *")
	staging.Promote = &queue.Promotion{To: "production", Soak: 30 * time.Minute, Spec: "0 14 * * *", Schedule: sched}
	e := start(t, []*queue.App{app("web", staging, shellEnv("production", "true"))}, func(o *queue.Options) { o.Clock = clock })
	d := e.submit(queue.Request{App: "web", Env: "staging", Ref: sha(1), User: "alice"})
	_, log := e.wait(d.ID)
	e.waitTimers(clock, 1)
	clock.Set(time.Date(2026, 11, 24, 13, 59, 0, 0, time.UTC))
	if ds, _ := e.svc.Deploys(context.Background(), queue.DeployFilter{Env: "production"}); len(ds) != 0 {
		t.Fatalf("promoted at 13:59")
	}
	clock.Set(time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC))
	p := e.waitDeployIn("web", "production")
	if p.SHA != sha(1) || p.Source != queue.SourcePromotion {
		t.Fatalf("%+v", p)
	}
	_ = log
}

// A freeze window: an auto-deploy waits and runs when the window ends; a
// deploy typed by a person is refused with the reason and the end; deploy!
// does not pass, an admin's deploy!! does and is audited.
func TestFreezeWindow(t *testing.T) {
	// Friday 20:00, inside "0 18 * * FRI" for 62h
	clock := queuetest.NewClock(time.Date(2026, 11, 20, 20, 0, 0, 0, time.UTC))
	prod := shellEnv("production", "true")
	prod.Freeze = []queue.FreezeWindow{window(t, "0 18 * * FRI", 62*time.Hour, "weekend")}
	e := start(t, []*queue.App{app("web", prod)}, func(o *queue.Options) {
		o.Clock = clock
		o.Admins = []string{"root"}
	})
	ctx := context.Background()

	auto := e.submit(queue.Request{App: "web", Ref: sha(1), SHA: sha(1), User: "github", Source: queue.SourceAuto})
	if auto.State != queue.StateWaiting {
		t.Fatalf("auto-deploy during the freeze: %s", auto.State)
	}
	if why := e.svc.View(auto).Waiting.Reason; why != "waiting: production is frozen until Mon 23 Nov 08:00 UTC (in 2d12h): weekend (freeze window 0 18 * * FRI)" {
		t.Errorf("waiting for %q", why)
	}
	_, err := e.svc.Submit(ctx, queue.Request{App: "web", Ref: sha(2), User: "alice", Force: true})
	if queue.ErrorCode(err) != queue.EFrozen || !strings.Contains(err.Error(), "production is frozen until Mon 23 Nov 08:00 UTC") ||
		!strings.Contains(err.Error(), "an admin's deploy!! overrides it") {
		t.Fatalf("deploy! during the freeze: %v", err)
	}
	if _, err := e.svc.Submit(ctx, queue.Request{App: "web", Ref: sha(2), User: "alice", Override: true}); queue.ErrorCode(err) != queue.EForbidden ||
		!strings.Contains(err.Error(), "alice may not override a freeze in production (admins: root)") {
		t.Fatalf("deploy!! by alice: %v", err)
	}
	over := e.submit(queue.Request{App: "web", Ref: sha(3), User: "root", Override: true})
	if got, log := e.wait(over.ID); got.State != queue.StateSucceeded || !strings.Contains(log, "freeze overridden by root") {
		t.Fatalf("deploy!! by root: %s\n%s", got.State, log)
	}
	audit, _ := e.svc.AuditLog(ctx, 5)
	found := false
	for _, a := range audit {
		found = found || a.Action == "override-freeze" && a.User == "root"
	}
	if !found {
		t.Errorf("the override is not audited: %+v", audit)
	}

	// the window ends: the auto-deploy runs
	if d, _ := e.svc.Deploy(ctx, auto.ID); d.State != queue.StateWaiting {
		t.Fatalf("#%d %s before the window ended", d.ID, d.State)
	}
	clock.Set(time.Date(2026, 11, 23, 8, 0, 1, 0, time.UTC))
	got, log := e.wait(auto.ID)
	if got.State != queue.StateSucceeded || !strings.Contains(log, "the freeze is over") {
		t.Fatalf("after the window: %s\n%s", got.State, log)
	}
}

// A one-off freeze from chat/API: refused while it holds, waiting ones go
// on when it is lifted.
func TestOneOffFreeze(t *testing.T) {
	clock := queuetest.NewClock(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	e := start(t, []*queue.App{app("web", shellEnv("production", "true"))}, func(o *queue.Options) { o.Clock = clock })
	ctx := context.Background()
	if _, err := e.svc.Freeze(ctx, queue.FreezeRequest{Env: "production", Owner: "carol", Reason: "incident 7", TTL: 2 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Submit(ctx, queue.Request{App: "web", Ref: sha(1), User: "alice"})
	if queue.ErrorCode(err) != queue.EFrozen || !strings.Contains(err.Error(), "production is frozen until Tue 24 Nov 12:00 UTC (in 2h): incident 7 (frozen by carol)") {
		t.Fatalf("got %v", err)
	}
	auto := e.submit(queue.Request{App: "web", Ref: sha(2), SHA: sha(2), User: "github", Source: queue.SourceAuto})
	if auto.State != queue.StateWaiting {
		t.Fatalf("%s", auto.State)
	}
	if _, err := e.svc.Unfreeze(ctx, "production", "carol"); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.wait(auto.ID); got.State != queue.StateSucceeded {
		t.Fatalf("after unfreeze: %s", got.State)
	}
	if _, err := e.svc.Unfreeze(ctx, "production", "carol"); queue.ErrorCode(err) != queue.ENotFound {
		t.Errorf("second unfreeze: %v", err)
	}
}

// Approvals: the deploy waits; its requester cannot approve it, nor can
// someone who is not an approver; an approver's approval lets it run. A
// rejection cancels; an unapproved deploy fails after approval_timeout.
func TestApprovalFlow(t *testing.T) {
	clock := queuetest.NewClock(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	prod := shellEnv("production", "true")
	prod.Deployers = []string{"alice", "bob", "carol"}
	prod.Approvals = queue.Approvals{Required: 1, From: []string{"bob", "carol"}, Timeout: time.Hour}
	e := start(t, []*queue.App{app("web", prod)}, func(o *queue.Options) { o.Clock = clock })
	ctx := context.Background()

	d := e.submit(queue.Request{App: "web", Ref: sha(1), User: "alice"})
	if d.State != queue.StateWaiting || e.svc.View(d).Waiting.Reason != "waiting for approval: 0 of 1 from bob, carol" {
		t.Fatalf("%s %+v", d.State, e.svc.View(d).Waiting)
	}
	if _, err := e.svc.Approve(ctx, d.ID, "alice"); queue.ErrorCode(err) != queue.EForbidden ||
		err.Error() != "alice asked for #1: someone else must approve it (approvals: bob, carol)" {
		t.Fatalf("self-approval: %v", err)
	}
	if _, err := e.svc.Approve(ctx, d.ID, "mallory"); queue.ErrorCode(err) != queue.EForbidden ||
		err.Error() != "mallory may not approve deploys to production (approvals: bob, carol)" {
		t.Fatalf("approval by mallory: %v", err)
	}
	if got, _ := e.svc.Deploy(ctx, d.ID); got.State != queue.StateWaiting {
		t.Fatalf("refused approvals moved it: %s", got.State)
	}
	if _, err := e.svc.Approve(ctx, d.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	got, log := e.wait(d.ID)
	if got.State != queue.StateSucceeded || !strings.Contains(log, "approved by bob") {
		t.Fatalf("%s\n%s", got.State, log)
	}

	r := e.submit(queue.Request{App: "web", Ref: sha(2), User: "alice"})
	if _, err := e.svc.Reject(ctx, r.ID, "carol", "not during the sale"); err != nil {
		t.Fatal(err)
	}
	if got := e.waitState(r.ID, queue.StateCanceled); got.Error != "rejected by carol: not during the sale" {
		t.Fatalf("rejected: %q", got.Error)
	}

	late := e.submit(queue.Request{App: "web", Ref: sha(3), User: "alice"})
	e.waitTimers(clock, 1)
	clock.Advance(time.Hour + time.Second)
	if got := e.waitState(late.ID, queue.StateFailed); got.Error != "not approved within 1h0m0s (0 of 1 approvals)" {
		t.Fatalf("timeout: %q", got.Error)
	}
}

func TestUnlockAllIsForAdmins(t *testing.T) {
	e := start(t, []*queue.App{app("web", shellEnv("staging", "true"), shellEnv("production", "true"))},
		func(o *queue.Options) { o.Admins = []string{"root"} })
	ctx := context.Background()
	e.svc.Lock(ctx, queue.LockRequest{Env: "staging", Owner: "alice"})
	e.svc.Lock(ctx, queue.LockRequest{Env: "production", Owner: "bob", Reason: "incident"})
	if _, err := e.svc.UnlockAll(ctx, "alice"); queue.ErrorCode(err) != queue.EForbidden || err.Error() != "alice may not unlock all (admins: root)" {
		t.Fatalf("alice: %v", err)
	}
	ls, err := e.svc.UnlockAll(ctx, "root")
	if err != nil || len(ls) != 2 {
		t.Fatalf("%v %v", ls, err)
	}
	if live, _ := e.svc.Locks(ctx); len(live) != 0 {
		t.Fatalf("still locked: %v", live)
	}
	audit, _ := e.svc.AuditLog(ctx, 2)
	if audit[0].Action != "unlock" || audit[0].User != "root" || !strings.Contains(audit[0].Detail, "unlock all") {
		t.Errorf("%+v", audit[0])
	}
}
