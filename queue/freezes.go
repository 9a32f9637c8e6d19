package queue

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// freezeBook owns the freezes: the recurring windows of the config and
// the one-off freezes set in chat or the API.
type freezeBook struct {
	store   Store
	clock   Clock
	windows []FreezeWindow // of every environment
	// changed hears when a one-off freeze is set or lifted (waiting
	// deploys are looked at again).
	changed func(ctx context.Context, env string)

	mu     sync.Mutex
	oneOff map[string]*Freeze // by env; the store's copy
}

func newFreezeBook(store Store, clock Clock, windows []FreezeWindow) *freezeBook {
	return &freezeBook{store: store, clock: clock, windows: windows, oneOff: map[string]*Freeze{}}
}

func (b *freezeBook) load(ctx context.Context) error {
	fs, err := b.store.Freezes(ctx)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range fs {
		b.oneOff[f.Env] = f
	}
	return nil
}

// refresh reads the one-off freezes again, for what other servers
// sharing the store set or lifted; the waiting deploys of each
// environment whose freeze changed are looked at again.
func (b *freezeBook) refresh(ctx context.Context) error {
	fs, err := b.store.Freezes(ctx)
	if err != nil {
		return err
	}
	fresh := map[string]*Freeze{}
	for _, f := range fs {
		fresh[f.Env] = f
	}
	var changed []string
	b.mu.Lock()
	for env, f := range b.oneOff {
		if g := fresh[env]; g == nil || !sameFreeze(f, g) {
			changed = append(changed, env)
		}
	}
	for env := range fresh {
		if b.oneOff[env] == nil {
			changed = append(changed, env)
		}
	}
	b.oneOff = fresh
	b.mu.Unlock()
	for _, env := range changed {
		b.changed(ctx, env)
	}
	return nil
}

func sameFreeze(a, b *Freeze) bool {
	return a.Env == b.Env && a.Owner == b.Owner && a.Reason == b.Reason && a.CreatedAt.Equal(b.CreatedAt) && a.EndsAt.Equal(b.EndsAt)
}

// put sets a one-off freeze; done runs once it is stored, before those
// who must hear of it do.
func (b *freezeBook) put(ctx context.Context, f *Freeze, done func()) error {
	if err := b.store.PutFreeze(ctx, f); err != nil {
		return err
	}
	b.mu.Lock()
	b.oneOff[f.Env] = f
	b.mu.Unlock()
	done()
	b.changed(ctx, f.Env)
	return nil
}

// lift ends the one-off freeze of env; ENotFound if none holds. done
// runs once it is lifted, before those who must hear of it do.
func (b *freezeBook) lift(ctx context.Context, env string, done func(*Freeze)) (*Freeze, error) {
	b.mu.Lock()
	f := b.oneOff[env]
	b.mu.Unlock()
	if f == nil || !f.holds(b.clock.Now()) {
		return nil, Errorf(ENotFound, "%s is not frozen by hand (freeze windows from the config end by themselves)", env)
	}
	if err := b.store.DeleteFreeze(ctx, env); err != nil {
		return nil, err
	}
	b.mu.Lock()
	delete(b.oneOff, env)
	b.mu.Unlock()
	done(f)
	b.changed(ctx, env)
	return f, nil
}

// holding lists the one-off freezes that hold now.
func (b *freezeBook) holding() []*Freeze {
	now := b.clock.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*Freeze
	for _, f := range b.oneOff {
		if f.holds(now) {
			c := *f
			out = append(out, &c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Env < out[j].Env })
	return out
}

func (f *Freeze) holds(now time.Time) bool { return f.EndsAt.IsZero() || now.Before(f.EndsAt) }

// activeFreeze is the freeze that holds an environment now.
type activeFreeze struct {
	until  time.Time // zero: until unfrozen
	reason string
	by     string         // "freeze window 0 18 * * FRI", or who froze it
	loc    *time.Location // the zone its end is said in
}

func (f *activeFreeze) text(env string, now time.Time) string {
	msg := env + " is frozen"
	if f.until.IsZero() {
		msg += " until unfrozen"
	} else {
		msg += fmt.Sprintf(" until %s (in %s)", InZone(f.until, f.loc), Age(f.until.Sub(now)))
	}
	if f.reason != "" {
		msg += ": " + f.reason
	}
	return msg + " (" + f.by + ")"
}

// frozen returns the freeze holding env at now, the one that ends last
// if several do, or nil.
func (b *freezeBook) frozen(env *Environment, now time.Time) *activeFreeze {
	var best *activeFreeze
	consider := func(f *activeFreeze) {
		switch {
		case best == nil:
			best = f
		case best.until.IsZero():
		case f.until.IsZero() || f.until.After(best.until):
			best = f
		}
	}
	windows := append(append([]FreezeWindow{}, b.windows...), env.Freeze...)
	for _, w := range windows {
		if end, ok := windowAt(w, now); ok {
			consider(&activeFreeze{until: end, reason: w.Reason, by: "freeze window " + w.Spec, loc: w.Location})
		}
	}
	b.mu.Lock()
	f := b.oneOff[env.Name]
	b.mu.Unlock()
	if f != nil && f.holds(now) {
		consider(&activeFreeze{until: f.EndsAt, reason: f.Reason, by: "frozen by " + f.Owner})
	}
	return best
}

// status says what freezes env now, "" if nothing.
func (b *freezeBook) status(env *Environment) string {
	now := b.clock.Now()
	if f := b.frozen(env, now); f != nil {
		return f.text(env.Name, now)
	}
	return ""
}

// windowAt reports whether a recurring window covers t, and when it ends:
// it started at an activation in (t-Duration, t]; activations within it
// extend it.
func windowAt(w FreezeWindow, t time.Time) (time.Time, bool) {
	if w.Schedule == nil || w.Duration <= 0 {
		return time.Time{}, false
	}
	start := w.Schedule.Next(t.Add(-w.Duration))
	if start.IsZero() || start.After(t) {
		return time.Time{}, false
	}
	end := start.Add(w.Duration)
	for range 1000 {
		next := w.Schedule.Next(start)
		if next.IsZero() || next.After(end) {
			break
		}
		start, end = next, next.Add(w.Duration)
	}
	return end, true
}
