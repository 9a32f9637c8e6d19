package slack

import (
	"slices"
	"time"

	"github.com/deployq/deployq/queue"
)

// Keeping Home tabs up to date: the tabs opened lately are drawn again a
// moment after deploys and locks change (on any server sharing the store), at most once per HomeEvery for
// all of them, and for at most homeRefreshMax users at a time (Slack
// takes about 100 views.publish a minute).

const (
	homeKeep       = time.Hour // a tab opened longer ago is not drawn again
	homeRefreshMax = 50
)

// sawHome notes that a Slack user opened their Home tab.
func (a *Adapter) sawHome(user string) {
	a.homeMu.Lock()
	defer a.homeMu.Unlock()
	if a.homes == nil {
		a.homes = map[string]time.Time{}
	}
	a.homes[user] = time.Now()
}

// homesChanged draws the Home tabs opened lately again, HomeEvery after
// the first change since they were last drawn: the changes meanwhile show
// together.
func (a *Adapter) homesChanged() {
	a.homeMu.Lock()
	defer a.homeMu.Unlock()
	if len(a.homes) == 0 || a.homeDue || a.ctx == nil {
		return
	}
	a.homeDue = true
	time.AfterFunc(a.HomeEvery, func() { a.later(a.refreshHomes) })
}

// refreshHomes draws again the Home tabs opened within homeKeep, the
// latest opened first, up to homeRefreshMax.
func (a *Adapter) refreshHomes() {
	a.homeMu.Lock()
	a.homeDue = false
	type seen struct {
		user string
		at   time.Time
	}
	var users []seen
	for u, at := range a.homes {
		if time.Since(at) > homeKeep {
			delete(a.homes, u)
			continue
		}
		users = append(users, seen{u, at})
	}
	a.homeMu.Unlock()
	if len(users) > homeRefreshMax {
		slices.SortFunc(users, func(x, y seen) int { return y.at.Compare(x.at) })
		users = users[:homeRefreshMax]
	}
	for _, u := range users {
		if a.ctx.Err() != nil {
			return
		}
		a.publishHome(a.ctx, u.user)
	}
}

// HomeWatcher is what keeps the Home tabs up to date: give it to the
// queue as an observer, so that it hears of the changes of every server
// sharing the store.
func (a *Adapter) HomeWatcher() queue.Notifier { return homeWatcher{a} }

type homeWatcher struct{ a *Adapter }

func (w homeWatcher) DeployChanged(*queue.Deploy)   { w.a.homesChanged() }
func (w homeWatcher) LockChanged(*queue.Lock, bool) { w.a.homesChanged() }
