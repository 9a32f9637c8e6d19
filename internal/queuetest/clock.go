package queuetest

import (
	"sort"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
)

// Clock is a queue.Clock that moves only when told (Advance, Set): the
// release policies' freeze windows, soaks and timeouts without sleeps.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c    *Clock
	at   time.Time
	f    func()
	done bool
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now implements queue.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc implements queue.Clock: f runs (in its own goroutine) when
// the clock is moved past now+d.
func (c *Clock) AfterFunc(d time.Duration, f func()) queue.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	if d <= 0 {
		t.done = true
		go f()
		return t
	}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// Advance moves the clock by d and fires the timers due, oldest first.
func (c *Clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Set moves the clock to t and fires the timers due.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	var due []*fakeTimer
	keep := c.timers[:0]
	for _, x := range c.timers {
		switch {
		case x.done:
		case !x.at.After(t):
			x.done = true
			due = append(due, x)
		default:
			keep = append(keep, x)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, x := range due {
		go x.f()
	}
}

// Pending counts the timers not fired yet.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, x := range c.timers {
		if !x.done {
			n++
		}
	}
	return n
}
