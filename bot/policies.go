package bot

import (
	"context"
	"fmt"

	"github.com/deployq/deployq/queue"
)

// The commands of the release policies: approvals, freezes, promotion.
// (deploy!! and unlock all are forms of deploy and unlock.)

func (b *Bot) approve(ctx context.Context, c *Command, m Message) (Reply, error) {
	d, err := b.svc.Approve(ctx, c.ID, m.User)
	if err != nil {
		return Reply{}, err
	}
	text := fmt.Sprintf("#%d approved by %s: %s", d.ID, m.User, d.State)
	if w := b.svc.View(d).Waiting; w != nil {
		text += " (" + w.Reason + ")"
	}
	return Reply{Text: text, Deploy: d}, nil
}

func (b *Bot) reject(ctx context.Context, c *Command, m Message) (Reply, error) {
	d, err := b.svc.Reject(ctx, c.ID, m.User, c.Reason)
	if err != nil {
		return Reply{}, err
	}
	return Reply{Text: fmt.Sprintf("#%d rejected: %s", d.ID, d.Error), Deploy: d}, nil
}

func (b *Bot) freeze(ctx context.Context, c *Command, m Message) (Reply, error) {
	f, err := b.svc.Freeze(ctx, queue.FreezeRequest{Env: c.Env, Owner: m.User, Reason: c.Reason, TTL: c.Duration})
	if err != nil {
		return Reply{}, err
	}
	text := "froze " + f.Env
	if !f.EndsAt.IsZero() {
		text += " for " + queue.Age(c.Duration)
	} else {
		text += " until unfreeze"
	}
	if f.Reason != "" {
		text += ": " + f.Reason
	}
	return Reply{Text: text + "\ndeploys are refused (an admin's deploy!! goes through); automatic ones wait"}, nil
}

func (b *Bot) unfreeze(ctx context.Context, c *Command, m Message) (Reply, error) {
	f, err := b.svc.Unfreeze(ctx, c.Env, m.User)
	if err != nil {
		return Reply{}, err
	}
	text := fmt.Sprintf("unfroze %s (frozen by %s for %s)", f.Env, f.Owner, queue.Age(b.now().Sub(f.CreatedAt)))
	if still := b.svc.FreezeStatus(f.Env); still != "" {
		text += "\nstill: " + still
	}
	return Reply{Text: text}, nil
}

func (b *Bot) promote(ctx context.Context, c *Command, m Message) (Reply, error) {
	d, err := b.svc.Promote(ctx, queue.PromoteRequest{App: c.App, From: c.From, To: c.To, User: m.User, ChatThread: m.Thread})
	if err != nil {
		return Reply{}, err
	}
	return b.queued(ctx, d, "promotion "), nil
}
