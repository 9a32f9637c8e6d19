package queue

import (
	"context"
	"sync"
)

// board keeps what runs where, lane by lane, current with every change
// the door makes: what succeeded last, what runs, the newest deploy, how
// many wait their turn or a rule. It is read from the store once, at
// start; after that, what runs where is memory only.
type board struct {
	store Store

	mu    sync.Mutex
	lanes map[laneKey]*LaneSummary
}

func newBoard(store Store) *board { return &board{store: store, lanes: map[laneKey]*LaneSummary{}} }

// load reads the summaries of every lane.
func (b *board) load(ctx context.Context) error {
	sums, err := b.store.Lanes(ctx)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range sums {
		s := sums[i]
		b.lanes[laneKey{s.App, s.Env}] = &s
	}
	return nil
}

// loadLane reads one lane's summary again from the store (another
// server changed it).
func (b *board) loadLane(ctx context.Context, app, env string) error {
	open, err := b.store.Deploys(ctx, DeployFilter{App: app, Env: env, States: []State{StateQueued, StateWaiting, StateRunning, StateVerifying}, Limit: -1})
	if err != nil {
		return err
	}
	current, err := b.store.LastSucceeded(ctx, app, env, 0)
	if err != nil {
		return err
	}
	last, err := b.store.Deploys(ctx, DeployFilter{App: app, Env: env, Limit: 1})
	if err != nil {
		return err
	}
	l := &LaneSummary{App: app, Env: env, Current: current}
	for _, d := range open {
		switch d.State {
		case StateQueued:
			l.Queued++
		case StateWaiting:
			l.Waiting++
		case StateRunning, StateVerifying:
			l.Running = d
		}
	}
	if len(last) > 0 {
		l.Last = last[0]
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lanes[laneKey{app, env}] = l
	return nil
}

// onChange is the door's hook.
func (b *board) onChange(_ context.Context, c change) {
	d := c.d
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.lanes[laneOf(d)]
	if l == nil {
		l = &LaneSummary{App: d.App, Env: d.Env}
		b.lanes[laneOf(d)] = l
	}
	count := func(s State, by int) {
		switch s {
		case StateQueued:
			l.Queued += by
		case StateWaiting:
			l.Waiting += by
		}
	}
	count(c.from(), -1)
	count(d.State, +1)
	switch {
	case d.State.Holds():
		l.Running = d
	case c.prev != nil && c.prev.State.Holds() && l.Running != nil && l.Running.ID == d.ID:
		l.Running = nil
	}
	if c.reached(StateSucceeded) && d.Op == "" && (l.Current == nil || d.ID >= l.Current.ID) {
		l.Current = d
	}
	if l.Last == nil || d.ID >= l.Last.ID {
		l.Last = d
	}
}

// snapshot returns a copy of a lane's summary.
func (b *board) snapshot(k laneKey) LaneSummary {
	b.mu.Lock()
	defer b.mu.Unlock()
	if l := b.lanes[k]; l != nil {
		return *l
	}
	return LaneSummary{App: k.app, Env: k.env}
}
