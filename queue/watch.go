package queue

import (
	"context"
	"log/slog"
	"sync"
)

// watch hears what other servers sharing the store change, as they store
// it: a deploy queued or a lane freed wakes the lane here at once, a
// deploy this server runs that another ended (a cancel) has its run
// stopped at once, locks and freezes are read again, and the observers
// (the event stream) are told. What it misses, the lease keeper's look
// every third of a lease finds.
type watch struct {
	life      context.Context
	store     Store
	watcher   Watcher
	runs      *runs
	locks     *lockTable
	freezes   *freezeBook
	board     *board
	dispatch  *dispatcher
	observers notifiers
	server    string
	log       *slog.Logger
	// rescan reads everything again (the lease keeper's look around),
	// after the watch was cut.
	rescan func(ctx context.Context)
	// first is closed once the watch first listened or failed to (its
	// first Rescan or Lost), or ended.
	first     chan struct{}
	firstOnce sync.Once
}

func (w *watch) run() {
	defer w.told()
	if err := w.watcher.Watch(w.life, w.changed); err != nil && w.life.Err() == nil {
		w.log.Error("hearing other servers' changes stopped; they are read every third of a lease", "err", err)
	}
}

func (w *watch) told() { w.firstOnce.Do(func() { close(w.first) }) }

func (w *watch) changed(c Change) {
	ctx := w.life
	switch {
	case c.Lost:
		w.locks.listen(false)
		w.told()
		return
	case c.Rescan:
		w.locks.listen(true)
		w.rescan(ctx)
		w.told()
		return
	case c.Locks:
		w.locks.changedElsewhere()
		if err := w.locks.refresh(ctx); err != nil {
			w.log.Warn("reading the locks again", "err", err)
		}
		w.dispatch.kickQueued(ctx) // a lock that went lets deploys go
		return
	case c.Freezes:
		if err := w.freezes.refresh(ctx); err != nil {
			w.log.Warn("reading the freezes again", "err", err)
		}
		return
	case c.Deploy == 0:
		return
	}
	d, err := w.store.Deploy(ctx, c.Deploy)
	if err != nil {
		w.log.Warn("reading a deploy another server changed", "id", c.Deploy, "err", err)
		return
	}
	if !d.State.Holds() && w.runs.held(d.ID) {
		w.log.Warn("a deploy this server runs was ended by another server; its run is stopped", "id", d.ID, "state", d.State)
		w.runs.stop(d.ID, &leaseLost{server: w.server, why: "no longer held it: another server ended it"})
	}
	if d.State == StateQueued || d.State.Terminal() {
		w.dispatch.kick(w.dispatch.lanes[laneOf(d)])
	}
	if err := w.board.loadLane(ctx, d.App, d.Env); err != nil {
		w.log.Warn("reading a lane again", "app", d.App, "env", d.Env, "err", err)
	}
	w.observers.deploy(d)
}
