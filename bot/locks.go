package bot

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
)

// The commands that take and give back locks.

func (b *Bot) lock(ctx context.Context, c *Command, m Message) (Reply, error) {
	l, prev, err := b.svc.Lock(ctx, queue.LockRequest{Env: c.Env, App: c.App, Owner: m.User, Reason: c.Reason,
		TTL: c.Duration, Steal: c.Bang})
	if err != nil {
		return Reply{}, err
	}
	text := "locked " + l.Scope()
	if prev != nil && prev.Owner != l.Owner {
		text = fmt.Sprintf("took the lock on %s from %s", l.Scope(), prev.Owner)
	} else if prev != nil {
		text = "renewed your lock on " + l.Scope()
	}
	if !l.ExpiresAt.IsZero() {
		text += " for " + queue.Age(l.ExpiresAt.Sub(l.CreatedAt))
	}
	if l.Reason != "" {
		text += ": " + l.Reason
	}
	return Reply{Text: text, Lock: l, Locked: true}, nil
}

func (b *Bot) unlock(ctx context.Context, c *Command, m Message) (Reply, error) {
	if c.All {
		ls, err := b.svc.UnlockAll(ctx, m.User)
		if err != nil {
			return Reply{}, err
		}
		if len(ls) == 0 {
			return Reply{Text: "nothing was locked"}, nil
		}
		var scopes []string
		for _, l := range ls {
			scopes = append(scopes, l.Scope()+" (held by "+l.Owner+")")
		}
		return Reply{Text: "unlocked " + strings.Join(scopes, ", ")}, nil
	}
	l, err := b.svc.Unlock(ctx, c.Env, c.App, m.User)
	if err != nil {
		return Reply{}, err
	}
	text := fmt.Sprintf("unlocked %s (held by %s for %s", l.Scope(), l.Owner, queue.Age(b.now().Sub(l.CreatedAt)))
	if l.Reason != "" {
		text += ": " + l.Reason
	}
	return Reply{Text: text + ")", Lock: l}, nil
}

// lockText is how a lock shows in queue and where.
func lockText(l *queue.Lock, now time.Time) string {
	s := fmt.Sprintf("[locked by %s %s ago", l.Owner, queue.Age(now.Sub(l.CreatedAt)))
	if l.Reason != "" {
		s += ": " + l.Reason
	}
	return s + "]"
}
