package slack

import (
	"fmt"
	"time"

	"github.com/deployq/deployq/queue"
	slackgo "github.com/slack-go/slack"
)

// Lock cards: announcements and reminders to their holders.

// answeredLock notes that a lock change was answered in a channel, so it
// is not announced there a second time.
func (a *Adapter) answeredLock(l *queue.Lock, channel string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, at := range a.lockReplies {
		if time.Since(at) > time.Minute {
			delete(a.lockReplies, k)
		}
	}
	a.lockReplies[l.Scope()+"/"+l.Owner+"/"+channel] = time.Now()
}

// LockChanged implements queue.Notifier: locks are announced in the
// announcement channel (unless they were asked for there).
func (a *Adapter) LockChanged(l *queue.Lock, locked bool) {
	if a.cfg.Channel == "" || a.ctx == nil {
		return
	}
	a.mu.Lock()
	_, answered := a.lockReplies[l.Scope()+"/"+l.Owner+"/"+a.cfg.Channel]
	a.mu.Unlock()
	if answered {
		return
	}
	c := *l
	go func() {
		blocks := LockBlocks(&c, locked, time.Now())
		text := fmt.Sprintf("%s locked by %s: %s", c.Scope(), c.Owner, c.Reason)
		if !locked {
			text = c.Scope() + " unlocked"
		}
		err := a.retry(a.ctx, func() error {
			_, _, err := a.api.PostMessageContext(a.ctx, a.cfg.Channel, plainText(text),
				slackgo.MsgOptionBlocks(blocks...))
			return err
		})
		if err != nil {
			a.log.Error("slack: lock announcement", "scope", c.Scope(), "err", err)
		}
	}()
}

// nag reminds the holders of old locks, once per LockNagAfter, while
// Slack answers.
func (a *Adapter) nag() {
	if a.Health() != nil {
		return
	}
	locks, err := a.svc.Locks(a.ctx)
	if err != nil {
		return
	}
	now := time.Now()
	for _, l := range locks {
		if now.Sub(l.CreatedAt) < a.cfg.LockNagAfter {
			continue
		}
		key := l.Scope() + "/" + l.Owner + "/" + l.CreatedAt.String()
		a.mu.Lock()
		last, seen := a.nagged[key]
		due := !seen || now.Sub(last) >= a.cfg.LockNagAfter
		if due {
			a.nagged[key] = now
		}
		a.mu.Unlock()
		id := a.slackID(l.Owner)
		if !due || id == "" {
			continue
		}
		text := fmt.Sprintf("You have held the lock on %s for %s. Still need it?", l.Scope(), queue.Age(now.Sub(l.CreatedAt)))
		err := a.retry(a.ctx, func() error {
			_, _, err := a.api.PostMessageContext(a.ctx, id, plainText(text),
				slackgo.MsgOptionBlocks(LockBlocks(l, true, now)...))
			return err
		})
		if err != nil {
			a.log.Error("slack: lock reminder", "scope", l.Scope(), "err", err)
		}
	}
}
