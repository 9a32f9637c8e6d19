package queue

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// waitingBook owns the deploys that wait for a release rule: why each
// waits (kept with the deploy, so it survives a restart), when to look
// again, and the checks timeout. It passes them through the rules again
// on events (a status, a freeze lifted, an approval), at their Until, and
// every so often in case an event was missed.
type waitingBook struct {
	life    context.Context
	store   Store
	door    *door
	rules   chain
	cat     *catalog
	checker Checker
	clock   Clock
	log     *slog.Logger
	every   time.Duration

	mu       sync.Mutex
	wakes    map[int64]Timer // look again at Waiting.Until
	timeouts map[int64]Timer // the checks timeout
}

// onChange is the door's hook: a waiting deploy gets its timers, one
// that leaves waiting loses them.
func (w *waitingBook) onChange(_ context.Context, c change) {
	switch {
	case c.d.State == StateWaiting:
		w.arm(c.d, c.prev)
	case c.left(StateWaiting):
		w.forget(c.d.ID)
	}
}

// arm sets when to look again at d, and its checks timeout when it has
// just begun to wait on checks.
func (w *waitingBook) arm(d, prev *Deploy) {
	if d.Waiting == nil {
		return
	}
	id := d.ID
	w.mu.Lock()
	defer w.mu.Unlock()
	if old := w.wakes[id]; old != nil {
		old.Stop()
		delete(w.wakes, id)
	}
	if until := d.Waiting.Until; !until.IsZero() {
		w.wakes[id] = w.clock.AfterFunc(until.Sub(w.clock.Now())+10*time.Millisecond, func() { w.lookAgain(id) })
	}
	wasOnChecks := prev != nil && prev.Waiting != nil && prev.Waiting.Rule == "checks"
	if d.Waiting.Rule != "checks" || wasOnChecks || w.timeouts[id] != nil {
		return
	}
	_, env, err := w.cat.lookup(d.App, d.Env)
	if err != nil || env.ChecksTimeout <= 0 {
		return
	}
	w.timeouts[id] = w.clock.AfterFunc(d.CreatedAt.Add(env.ChecksTimeout).Sub(w.clock.Now()), func() { w.checksTimedOut(id, env) })
}

func (w *waitingBook) forget(id int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range []map[int64]Timer{w.wakes, w.timeouts} {
		if t := m[id]; t != nil {
			t.Stop()
			delete(m, id)
		}
	}
}

// load gives the waiting deploys found at start their timers again.
func (w *waitingBook) load(ctx context.Context) error {
	ds, err := w.store.Deploys(ctx, DeployFilter{States: []State{StateWaiting}, Limit: -1})
	if err != nil {
		return err
	}
	for _, d := range ds {
		w.arm(d, nil)
	}
	return nil
}

// watch rechecks every waiting deploy now, then every so often.
func (w *waitingBook) watch() {
	for {
		if err := w.recheck(w.life, func(*Deploy) bool { return true }); err != nil && w.life.Err() == nil {
			w.log.Error("rechecking waiting deploys", "err", err)
		}
		if sleep(w.life, w.clock, w.every) != nil {
			return
		}
	}
}

// recheck passes the waiting deploys that match through the rules again.
func (w *waitingBook) recheck(ctx context.Context, match func(*Deploy) bool) error {
	ds, err := w.store.Deploys(ctx, DeployFilter{States: []State{StateWaiting}, Limit: -1})
	if err != nil {
		return err
	}
	for _, d := range ds {
		if match(d) {
			w.reevaluate(ctx, d)
		}
	}
	return nil
}

// onFreeze is the freeze book's hook: the waiting deploys of env are
// looked at again.
func (w *waitingBook) onFreeze(ctx context.Context, env string) {
	if err := w.recheck(ctx, func(d *Deploy) bool { return d.Env == env }); err != nil {
		w.log.Error("rechecking waiting deploys", "env", env, "err", err)
	}
}

// onLock is the lock table's hook: deploys that wait for a lock to end
// (an Actions job's) are looked at again when one is released.
func (w *waitingBook) onLock(ctx context.Context, l *Lock, locked bool) {
	if locked {
		return
	}
	if err := w.recheck(ctx, func(d *Deploy) bool { return d.Env == l.Env && d.Waiting != nil && d.Waiting.Rule == "lock" }); err != nil {
		w.log.Error("rechecking waiting deploys", "env", l.Env, "err", err)
	}
}

func (w *waitingBook) lookAgain(id int64) {
	if w.life.Err() != nil {
		return
	}
	d, err := w.store.Deploy(w.life, id)
	if err != nil || d.State != StateWaiting {
		return
	}
	w.reevaluate(w.life, d)
}

// reevaluate passes a waiting deploy through the rules again: it is
// queued when they all let it through, fails when one refuses it, and
// otherwise waits on (the reason updated if it changed).
func (w *waitingBook) reevaluate(ctx context.Context, d *Deploy) {
	app, env, err := w.cat.lookup(d.App, d.Env)
	if err != nil {
		return
	}
	override := false
	if v, _ := w.store.Meta(ctx, d.ID, MetaOverrideFreeze); v == "1" {
		override = true
	}
	v := w.rules.judge(ctx, &Admission{App: app, Env: env, Deploy: d, Override: override, Recheck: true, Now: w.clock.Now()})
	switch {
	case v == nil:
		line := "no longer waiting"
		if d.Waiting != nil {
			switch d.Waiting.Rule {
			case "checks":
				line = "checks passed"
			case "freeze":
				line = "the freeze is over"
			case "approvals":
				line = "approved"
			case "lock":
				line = "the lock is over"
			}
		}
		err = w.door.move(ctx, d, StateQueued, nil, line)
	case !v.Wait:
		msg := v.Reason
		err = w.door.move(ctx, d, StateFailed, func(d *Deploy) { d.Error = msg }, msg)
	case !d.Waiting.same(v.asWaiting()):
		err = w.door.move(ctx, d, StateWaiting, func(d *Deploy) { d.Waiting = v.asWaiting() }, v.Reason)
	}
	if err != nil && ErrorCode(err) != EConflict {
		w.log.Error("looking again at a waiting deploy", "id", d.ID, "err", err)
	}
}

// checksTimedOut fails a deploy that still waits on checks when its
// environment's checks_timeout has passed since it was asked for.
func (w *waitingBook) checksTimedOut(id int64, env *Environment) {
	ctx := w.life
	if ctx.Err() != nil {
		return
	}
	w.mu.Lock()
	delete(w.timeouts, id)
	w.mu.Unlock()
	d, err := w.store.Deploy(ctx, id)
	if err != nil || d.State != StateWaiting || d.Waiting == nil || d.Waiting.Rule != "checks" {
		return // it waits on another rule now, or no longer
	}
	msg := fmt.Sprintf("checks still pending after %s", env.ChecksTimeout)
	if app, _, err := w.cat.lookup(d.App, d.Env); err == nil && w.checker != nil {
		if rep, err := w.checker.Checks(ctx, app, d.SHA, env.RequiredContexts); err == nil && len(rep.Pending) > 0 {
			msg += ": " + checkList(rep.Pending)
		}
	}
	if err := w.door.move(ctx, d, StateFailed, func(d *Deploy) { d.Error = msg }, msg); err != nil && ErrorCode(err) != EConflict {
		w.log.Error("failing a deploy whose checks timed out", "id", id, "err", err)
	}
}

func (w *waitingBook) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range []map[int64]Timer{w.wakes, w.timeouts} {
		for _, t := range m {
			t.Stop()
		}
	}
}

// same reports whether two reasons to wait are the same (either may be
// nil).
func (w *Waiting) same(o *Waiting) bool {
	if w == nil || o == nil {
		return w == o
	}
	return w.Rule == o.Rule && w.Reason == o.Reason && w.Until.Equal(o.Until)
}
