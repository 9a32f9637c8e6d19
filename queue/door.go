package queue

import (
	"context"
	"log/slog"
	"sync"
)

// change is a deploy's move as hooks hear of it: the deploy after it, and
// before it (nil when the deploy was just created). Hooks must not
// modify either.
type change struct {
	d, prev *Deploy
}

// from is the state the deploy left ("" when it was just created).
func (c change) from() State {
	if c.prev == nil {
		return ""
	}
	return c.prev.State
}

// left reports whether the change took the deploy out of state s.
func (c change) left(s State) bool { return c.from() == s && c.d.State != s }

// reached reports whether the change brought the deploy into state s.
func (c change) reached(s State) bool { return c.d.State == s && c.from() != s }

// hook reacts to a change once it is stored. Hooks run in the order they
// were registered, on the goroutine that made the change, with a context
// that is not canceled; they must not block for long.
type hook func(ctx context.Context, c change)

// door is the one way a deploy is recorded or changes state: the
// transition table, a write conditional on the state it comes from (with
// its log lines, in the same transaction), then the hooks of whoever must
// hear of it. It also keeps the audit trail.
type door struct {
	store Store
	logs  *logHub
	clock Clock
	log   *slog.Logger
	hooks []hook  // registered while the Service is built, read-only after
	mail  mailers // asked for the letters of every deploy created or moved to another state

	mu       sync.Mutex
	told     *sync.Cond      // creating went down
	creating map[laneKey]int // deploys stored whose hooks have not all run
}

func newDoor(store Store, logs *logHub, clock Clock, log *slog.Logger) *door {
	o := &door{store: store, logs: logs, clock: clock, log: log, creating: map[laneKey]int{}}
	o.told = sync.NewCond(&o.mu)
	return o
}

func (o *door) on(h hook) { o.hooks = append(o.hooks, h) }

// move takes d to state `to`: mutate sets the other fields, line (unless
// "") goes to its log in the same transaction as the state, after every
// line still waiting for the store. A move to the state d is in (not a
// terminal one) updates it in place, as when why it waits changes. On
// success d is the stored deploy and the hooks have run. EConflict when
// the table forbids the move or the stored state is no longer d's.
func (o *door) move(ctx context.Context, d *Deploy, to State, mutate func(*Deploy), line string) error {
	if to == d.State && to.Terminal() || to != d.State && !CanTransition(d.State, to) {
		return Errorf(EConflict, "deploy #%d is %s; it cannot become %s", d.ID, d.State, to)
	}
	next := *d
	next.State = to
	if to != StateWaiting {
		next.Waiting = nil
	}
	if mutate != nil {
		mutate(&next)
	}
	if to.Terminal() && next.FinishedAt.IsZero() {
		next.FinishedAt = o.clock.Now().UTC()
	}
	var dl *deployLog
	if line != "" {
		var err error
		if dl, err = o.logs.acquire(ctx, d.ID); err != nil {
			return err
		}
	} else {
		dl = o.logs.acquireLive(d.ID) // only to store what is pending
	}
	var lines []LogLine
	var fresh bool
	if dl != nil {
		defer o.logs.release(dl)
		lines, fresh = dl.take(line)
	}
	wctx := ctx
	if to != d.State {
		wctx = o.mail.with(ctx)
	}
	err := o.store.UpdateDeploy(wctx, &next, d.State, lines)
	if dl != nil {
		dl.settle(lines, fresh, err == nil)
	}
	if err != nil {
		return err
	}
	prev := *d
	*d = next
	o.after(ctx, &prev, d)
	return nil
}

// create records a new deploy in its first state (queued, waiting, or
// failed for a refused automatic one) with its audit entry, keeps what
// adapters must find with it (meta) before anyone hears of it, writes
// lines to its log, and runs the hooks.
func (o *door) create(ctx context.Context, d *Deploy, e AuditEntry, meta map[string]string, lines ...string) error {
	if e.Time.IsZero() {
		e.Time = o.clock.Now().UTC()
	}
	k := laneOf(d)
	o.mu.Lock()
	o.creating[k]++
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		if o.creating[k]--; o.creating[k] == 0 {
			delete(o.creating, k)
		}
		o.told.Broadcast()
		o.mu.Unlock()
	}()
	if err := o.store.CreateDeploy(o.mail.with(ctx), d, e); err != nil {
		return err
	}
	for k, v := range meta {
		if err := o.store.SetMeta(ctx, d.ID, k, v); err != nil {
			o.log.Error("keeping what is known of a deploy", "id", d.ID, "key", k, "err", err)
		}
	}
	for _, l := range lines {
		o.logs.line(ctx, d.ID, l)
	}
	o.after(ctx, nil, d)
	return nil
}

// announced waits until every deploy of lane k that is stored has been
// told to those who must hear of it: a deploy is never started (and said
// running) before it was said queued.
func (o *door) announced(k laneKey) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.creating[k] > 0 {
		o.told.Wait()
	}
}

func (o *door) after(ctx context.Context, prev, d *Deploy) {
	c := *d
	ch := change{d: &c, prev: prev}
	ctx = context.WithoutCancel(ctx)
	for _, h := range o.hooks {
		h(ctx, ch)
	}
}

// audit records who did what; a failure is logged, never returned.
func (o *door) audit(ctx context.Context, user, action, target, detail string) {
	err := o.store.Audit(context.WithoutCancel(ctx), AuditEntry{Time: o.clock.Now().UTC(), User: user,
		Action: action, Target: target, Detail: detail})
	if err != nil {
		o.log.Error("writing the audit trail", "err", err)
	}
}
