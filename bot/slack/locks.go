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

// nag reminds the holders of old locks, once per LockNagAfter of a lock's
// age, while Slack answers. Every server sharing the store looks; the
// store's Once lets one of them remind.
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
		age := now.Sub(l.CreatedAt)
		if age < a.cfg.LockNagAfter {
			continue
		}
		key := fmt.Sprintf("slack.nag:%s/%s/%d/%d", l.Scope(), l.Owner, l.CreatedAt.UnixNano(), age/a.cfg.LockNagAfter)
		a.mu.Lock()
		for k, at := range a.nagged {
			if now.Sub(at) > 2*a.cfg.LockNagAfter {
				delete(a.nagged, k)
			}
		}
		_, seen := a.nagged[key]
		a.nagged[key] = now
		a.mu.Unlock()
		id := a.slackID(l.Owner)
		if seen || id == "" {
			continue
		}
		if first, err := a.svc.Once(a.ctx, key); err != nil || !first {
			continue // another server reminds, or the store cannot say
		}
		text := fmt.Sprintf("You have held the lock on %s for %s. Still need it?", l.Scope(), queue.Age(age))
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
