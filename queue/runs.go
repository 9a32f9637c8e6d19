package queue

import (
	"context"
	"slices"
	"sync"
)

// runs is what this process knows of the deploys it runs: how to stop
// each, how far it is, whether it waits for a person, and, once its
// runner returned, the end it reached until that end is stored. It is
// registered before a deploy becomes running and forgotten when its end
// is stored.
type runs struct {
	mu   sync.Mutex
	byID map[int64]*runState
}

type runState struct {
	cancel   context.CancelCauseFunc
	progress *Progress
	resume   chan string // while paused: who continues it
	ending   *Deploy     // the end reached, while it is being stored
	started  bool        // its running state is stored
}

func newRuns() *runs { return &runs{byID: map[int64]*runState{}} }

// register makes a deploy about to start stoppable.
func (r *runs) register(id int64, cancel context.CancelCauseFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byID[id] = &runState{cancel: cancel}
}

// forget drops what is known of a deploy that ended or did not start.
func (r *runs) forget(id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.byID, id)
}

// onChange notes that a deploy's start is stored, and forgets a deploy
// once its end is stored.
func (r *runs) onChange(_ context.Context, c change) {
	switch {
	case c.d.State.Terminal():
		r.forget(c.d.ID)
	case c.reached(StateRunning):
		r.markStarted(c.d.ID)
	}
}

// markStarted notes that a deploy's running (or verifying) state is
// stored.
func (r *runs) markStarted(id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if x := r.byID[id]; x != nil {
		x.started = true
	}
}

// running lists the deploys this process runs whose start is stored and
// whose runner has not returned, by id.
func (r *runs) running() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []int64
	for id, x := range r.byID {
		if x.started && x.ending == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// stop cancels a deploy this process runs. It returns the end the deploy
// reached if its runner already returned, and whether this process holds
// it at all.
func (r *runs) stop(id int64, cause error) (ending *Deploy, held bool) {
	r.mu.Lock()
	x := r.byID[id]
	r.mu.Unlock()
	if x == nil {
		return nil, false
	}
	if x.ending != nil {
		c := *x.ending
		return &c, true
	}
	x.cancel(cause)
	return nil, true
}

// held reports whether this process runs the deploy.
func (r *runs) held(id int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[id] != nil
}

// ended keeps the end a deploy reached until it is stored.
func (r *runs) ended(d *Deploy) {
	c := *d
	r.mu.Lock()
	defer r.mu.Unlock()
	if x := r.byID[d.ID]; x != nil {
		x.ending = &c
	}
}

// overlay returns d as it really is: the end it reached, while that end
// is being stored; d otherwise.
func (r *runs) overlay(d *Deploy) *Deploy {
	if d == nil || !d.State.Holds() {
		return d
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if x := r.byID[d.ID]; x != nil && x.ending != nil {
		c := *x.ending
		return &c
	}
	return d
}

func (r *runs) setProgress(id int64, p Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if x := r.byID[id]; x != nil {
		x.progress = &p
	}
}

// progressOf returns the last progress a running deploy reported, or nil.
func (r *runs) progressOf(id int64) *Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	if x := r.byID[id]; x != nil && x.progress != nil {
		p := *x.progress
		return &p
	}
	return nil
}

// pause opens a deploy's wait for a person; the channel hears who
// continues it.
func (r *runs) pause(id int64) chan string {
	ch := make(chan string, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if x := r.byID[id]; x != nil {
		x.resume = ch
	}
	return ch
}

// unpause closes the wait (continued, canceled or timed out).
func (r *runs) unpause(id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if x := r.byID[id]; x != nil {
		x.resume = nil
	}
}

// resume lets a paused deploy go on; false if it is not paused.
func (r *runs) resume(id int64, user string) bool {
	r.mu.Lock()
	x := r.byID[id]
	var ch chan string
	if x != nil {
		ch, x.resume = x.resume, nil
	}
	r.mu.Unlock()
	if ch == nil {
		return false
	}
	ch <- user
	return true
}
