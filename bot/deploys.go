package bot

import (
	"context"
	"fmt"

	"github.com/deployq/deployq/queue"
)

// The commands that queue, stop or go on with deploys and operations.

func (b *Bot) deploy(ctx context.Context, c *Command, m Message) (Reply, error) {
	d, err := b.svc.Submit(ctx, queue.Request{App: c.App, Env: c.Env, Ref: c.Ref, User: m.User,
		Source: queue.SourceChat, Force: c.Bang, Override: c.Override, ChatThread: m.Thread, Params: c.Params})
	if err != nil {
		return Reply{}, err
	}
	return b.queued(ctx, d, ""), nil
}

func (b *Bot) rollback(ctx context.Context, c *Command, m Message) (Reply, error) {
	r := queue.RollbackRequest{App: c.App, Env: c.Env, To: c.To, Of: c.ID, User: m.User, ChatThread: m.Thread}
	d, err := b.svc.Rollback(ctx, r)
	if err != nil {
		return Reply{}, err
	}
	return b.queued(ctx, d, "rollback "), nil
}

func (b *Bot) cancel(ctx context.Context, c *Command, m Message) (Reply, error) {
	d, err := b.svc.Cancel(ctx, c.ID, m.User)
	if err != nil {
		return Reply{}, err
	}
	switch d.State {
	case queue.StateRunning:
		return Reply{Text: fmt.Sprintf("canceling #%d (%s to %s): stopping its runner", d.ID, d.App, d.Env), Deploy: d}, nil
	case queue.StateVerifying:
		return Reply{Text: fmt.Sprintf("canceling #%d (%s to %s): stopping its verification (nothing is rolled back)", d.ID, d.App, d.Env), Deploy: d}, nil
	}
	return Reply{Text: fmt.Sprintf("#%d canceled before it ran", d.ID), Deploy: d}, nil
}

// resume is continue.
func (b *Bot) resume(ctx context.Context, c *Command, m Message) (Reply, error) {
	d, err := b.svc.Continue(ctx, c.ID, m.User)
	if err != nil {
		return Reply{}, err
	}
	return Reply{Text: fmt.Sprintf("#%d continues (%s to %s)", d.ID, d.App, d.Env)}, nil
}

// operate is scale, restart, stop and start.
func (b *Bot) operate(ctx context.Context, c *Command, m Message) (Reply, error) {
	d, err := b.svc.Operate(ctx, queue.OpRequest{App: c.App, Env: c.Env, Op: c.Verb, Instances: c.N,
		User: m.User, Source: queue.SourceChat, ChatThread: m.Thread})
	if err != nil {
		return Reply{}, err
	}
	return b.queued(ctx, d, ""), nil
}

// queued answers a command that queued d (kind: "rollback ", ...).
func (b *Bot) queued(ctx context.Context, d *queue.Deploy, kind string) Reply {
	what := "queued"
	if d.State == queue.StateWaiting {
		what = "waiting"
		if w := b.svc.View(d).Waiting; w != nil && w.Reason != "" {
			what = w.Reason
		}
	}
	text := fmt.Sprintf("#%d %s%s: %s@%s (%s) to %s by %s", d.ID, kind, what, d.App, d.Ref, queue.ShortSHA(d.SHA), d.Env, d.User)
	if d.Op != "" {
		text = fmt.Sprintf("#%d %s: %s by %s", d.ID, what, d.Describe(), d.User)
	} else if d.Ref == d.SHA {
		text = fmt.Sprintf("#%d %s%s: %s %s to %s by %s", d.ID, kind, what, d.App, queue.ShortSHA(d.SHA), d.Env, d.User)
	}
	ahead, err := b.svc.Deploys(ctx, queue.DeployFilter{App: d.App, Env: d.Env,
		States: []queue.State{queue.StateQueued, queue.StateRunning, queue.StateVerifying}, Limit: -1})
	n := 0
	for _, a := range ahead {
		if queue.Ahead(a, d) {
			n++
		}
	}
	if err == nil && n > 0 {
		text += fmt.Sprintf(", %d ahead", n)
	}
	if url, commits := b.svc.Changes(ctx, d); url != "" && d.Op == "" {
		unit := "commits"
		if commits == 1 {
			unit = "commit"
		}
		text += fmt.Sprintf("\nchanges: %s (%d %s)", url, commits, unit)
	}
	return Reply{Text: text + "\nlog: " + b.LogURL(d.ID), Deploy: d}
}
