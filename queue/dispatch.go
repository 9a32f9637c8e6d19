package queue

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// lane is one app in one environment: its deploys run one at a time,
// oldest first.
type lane struct {
	app  *App
	env  *Environment
	wake chan struct{}

	// Only the lane's worker touches these.
	failures int // writes that failed in a row: the next try waits longer
	// resume is a deploy found verifying at start: its verification goes
	// on before anything else of the lane.
	resume *Deploy
}

// dispatcher owns the lanes and the slots: one worker per lane, woken by
// events (never polling), starts the lane's oldest queued deploy when no
// lock holds it back and a slot is free, and runs it to its end.
type dispatcher struct {
	life  context.Context
	cat   *catalog
	store Store
	door  *door
	locks *lockTable
	runs  *runs
	exec  *executor
	clock Clock
	log   *slog.Logger
	slots chan struct{}
	lanes map[laneKey]*lane // fixed once built
	// server is this server's name, kept with the deploys it runs; lease,
	// when several servers share the store, how long its hold on each
	// lasts unless renewed (0: this server is alone).
	server string
	lease  time.Duration
}

// newDispatcher completes x (its owners set) with a lane per configured
// app+env and maxParallel slots.
func newDispatcher(x dispatcher, maxParallel int) *dispatcher {
	x.slots, x.lanes = make(chan struct{}, maxParallel), map[laneKey]*lane{}
	x.cat.each(func(a *App, e *Environment) {
		x.lanes[laneKey{a.Name, e.Name}] = &lane{app: a, env: e, wake: make(chan struct{}, 1)}
	})
	return &x
}

// onChange is the door's hook: a deploy that became queued wakes its
// lane, and so does one that stopped running or verifying (its lane is
// free).
func (x *dispatcher) onChange(_ context.Context, c change) {
	if c.reached(StateQueued) || c.prev != nil && c.prev.State.Holds() && !c.d.State.Holds() {
		x.kick(x.lanes[laneOf(c.d)])
	}
}

// onLock is the lock table's hook: a lock that went lets the deploys it
// held go.
func (x *dispatcher) onLock(_ context.Context, l *Lock, locked bool) {
	if !locked {
		x.kickEnv(l.Env)
	}
}

func (x *dispatcher) kick(l *lane) {
	if l == nil {
		return
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// kickQueued wakes the lanes that have queued deploys: another server
// may have queued them, or freed their lane.
func (x *dispatcher) kickQueued(ctx context.Context) {
	queued, err := x.store.Deploys(ctx, DeployFilter{States: []State{StateQueued}, Limit: -1})
	if err != nil {
		x.log.Warn("looking for queued deploys", "err", err)
		return
	}
	for _, d := range queued {
		x.kick(x.lanes[laneOf(d)])
	}
}

func (x *dispatcher) kickEnv(env string) {
	for k, l := range x.lanes {
		if k.env == env {
			x.kick(l)
		}
	}
}

// recover runs at start: deploys found running become interrupted (no
// runner of this process holds them), those found verifying resume their
// verification, and queued or waiting deploys of lanes no longer
// configured fail. When several servers share the store,
// only the deploys of this server's earlier life are its to interrupt;
// the others' end with their leases.
func (x *dispatcher) recover(ctx context.Context) error {
	running, err := x.store.Deploys(ctx, DeployFilter{States: Holding, Limit: -1})
	if err != nil {
		return err
	}
	for _, d := range running {
		if !x.mine(d) {
			continue
		}
		if l := x.lanes[laneOf(d)]; l != nil && d.State == StateVerifying {
			l.resume = d
			continue
		}
		line := "deployq stopped while this deploy ran; it is interrupted, check " + d.Env + " before deploying again"
		if err := x.interrupt(ctx, d, ErrShutdown.Error(), line, "deploy interrupted by a restart", "found running at start"); err != nil {
			return err
		}
	}
	pending, err := x.store.Deploys(ctx, DeployFilter{States: []State{StateQueued, StateWaiting}, Limit: -1})
	if err != nil {
		return err
	}
	for _, d := range pending {
		if x.lanes[laneOf(d)] == nil {
			msg := fmt.Sprintf("%s/%s is no longer configured", d.App, d.Env)
			if err := x.door.move(ctx, d, StateFailed, func(d *Deploy) { d.Error = msg }, msg); err != nil {
				return err
			}
		}
	}
	return nil
}

// mine reports whether a running deploy that no runner of this process
// holds is this server's to end: always when it is alone; when several
// share the store, those it started in an earlier life (or that no
// server holds).
func (x *dispatcher) mine(d *Deploy) bool {
	return x.lease == 0 || d.Server == x.server || d.Server == ""
}

// interrupt ends a running deploy that no runner of this process holds:
// msg is its error, line what its log says, said what the server's log
// says, why what the audit says.
func (x *dispatcher) interrupt(ctx context.Context, d *Deploy, msg, line, said, why string) error {
	if err := x.door.move(ctx, d, StateInterrupted, func(d *Deploy) { d.Error = msg }, line); err != nil {
		return err
	}
	x.log.Warn(said, "id", d.ID, "app", d.App, "env", d.Env)
	x.door.audit(ctx, "deployq", "interrupt", numbered(d.ID), why)
	return nil
}

// run runs one worker per lane until the Service stops.
func (x *dispatcher) run(wg *sync.WaitGroup) {
	for _, l := range x.lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x.work(l)
		}()
		x.kick(l)
	}
}

// work is the worker of one lane.
func (x *dispatcher) work(l *lane) {
	if d := l.resume; d != nil {
		l.resume = nil
		x.resumeVerify(l, d)
	}
	for {
		select {
		case <-x.life.Done():
			return
		case <-l.wake:
		}
		for x.life.Err() == nil {
			s, err := x.startNext(l)
			if err != nil {
				x.retryLater(l, err)
				break
			}
			l.failures = 0
			if s == nil {
				break
			}
			x.exec.exec(s.ctx, s.cancel, l.app, l.env, s.d)
			<-x.slots
		}
	}
}

// resumeVerify goes on with the verification of d, found verifying at
// start, in a slot.
func (x *dispatcher) resumeVerify(l *lane, d *Deploy) {
	select {
	case x.slots <- struct{}{}:
	case <-x.life.Done():
		return
	}
	defer func() { <-x.slots }()
	ctx, cancel := context.WithCancelCause(x.life)
	x.runs.register(d.ID, cancel)
	x.runs.markStarted(d.ID)
	x.log.Info("resuming the verification of a deploy", "id", d.ID, "app", d.App, "env", d.Env)
	x.exec.resume(ctx, cancel, l.app, l.env, d)
}

// retryLater wakes the lane again after a failed write or read, backing
// off, so that it goes on by itself once the store can be written again.
func (x *dispatcher) retryLater(l *lane, err error) {
	if x.life.Err() != nil {
		return
	}
	x.log.Error("starting a deploy; trying again", "app", l.app.Name, "env", l.env.Name, "attempt", l.failures+1, "err", err)
	x.clock.AfterFunc(backoff(l.failures), func() { x.kick(l) })
	l.failures++
}

// started is a deploy that became running, with its context.
type started struct {
	d      *Deploy
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// startNext takes a slot and moves the lane's oldest queued deploy to
// running, unless the lane is empty or held by a lock. It returns the
// running deploy with its slot held, or nil with no slot held.
func (x *dispatcher) startNext(l *lane) (*started, error) {
	ctx := x.life
	d, current, err := x.store.NextQueued(ctx, l.app.Name, l.env.Name)
	if err != nil || d == nil {
		return nil, err
	}
	select {
	case x.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	x.door.announced(laneKey{l.app.Name, l.env.Name})
	repaired := false
	for {
		s, err := x.start(l, d, current)
		if ErrorCode(err) == EConflict {
			cur, rerr := x.store.Deploy(ctx, d.ID)
			switch {
			case rerr != nil:
				err = rerr
			case cur.State != StateQueued: // canceled or superseded meanwhile: the next one
				if d, current, err = x.store.NextQueued(ctx, l.app.Name, l.env.Name); err == nil && d != nil {
					continue
				}
			case !repaired: // still queued: a running row of this lane that no runner holds
				repaired = true
				if err = x.repair(ctx, l); err == nil {
					continue
				}
			case x.lease > 0: // another server runs this lane: the next look comes with its end
				err = nil
			}
		}
		if err != nil || s == nil {
			<-x.slots
		}
		return s, err
	}
}

// start moves d to running unless a lock holds it back; current is the
// sha it replaces (read with it). Its cancel is registered first, so
// that a cancel finds it the moment it runs.
func (x *dispatcher) start(l *lane, d *Deploy, current string) (*started, error) {
	release := x.locks.hold(l.env.Name)
	defer release()
	if err := x.locks.sync(x.life); err != nil { // another server may have taken a lock
		return nil, err
	}
	if x.locks.blocking(d.App, d.Env, d.User) != nil {
		return nil, nil // held back until an unlock or an expiry wakes the lane
	}
	ctx, cancel := context.WithCancelCause(x.life)
	x.runs.register(d.ID, cancel)
	now := x.clock.Now().UTC()
	err := x.door.move(x.life, d, StateRunning, func(d *Deploy) {
		d.StartedAt, d.PreviousSHA, d.Server = now, current, x.server
		if x.lease > 0 {
			d.LeaseUntil = now.Add(x.lease)
		}
	}, "")
	if err != nil {
		x.runs.forget(d.ID)
		cancel(nil)
		return nil, err
	}
	return &started{d: d, ctx: ctx, cancel: cancel}, nil
}

// repair interrupts the running deploys of a lane that no runner of this
// process holds (their end could not be recorded, say), so that the lane
// goes on. It says so in the server's log and the deploy's.
func (x *dispatcher) repair(ctx context.Context, l *lane) error {
	running, err := x.store.Deploys(ctx, DeployFilter{App: l.app.Name, Env: l.env.Name, States: Holding, Limit: -1})
	if err != nil {
		return err
	}
	for _, d := range running {
		if x.runs.held(d.ID) || !x.mine(d) {
			continue // another server's ends with its lease
		}
		msg := "found running with no runner; interrupted so that its lane goes on"
		line := msg + ": check " + d.Env + " before deploying again"
		if err := x.interrupt(ctx, d, msg, line, "deploy interrupted: no runner held it",
			"found running with no runner when the next deploy of its lane was to start"); err != nil && ErrorCode(err) != EConflict {
			return err
		}
	}
	return nil
}
