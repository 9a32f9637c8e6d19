package bot

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
)

// The commands that only tell: queue, where, history, help.

func (b *Bot) help(context.Context, *Command, Message) (Reply, error) {
	return Reply{Text: "deployq commands:\n" + strings.Join(Help, "\n")}, nil
}

func (b *Bot) queue(ctx context.Context, c *Command, _ Message) (Reply, error) {
	env := c.Env
	sts, err := b.svc.Environments(ctx)
	if err != nil {
		return Reply{}, err
	}
	var lines []string
	known := false
	for _, st := range sts {
		if env != "" && st.Env != env {
			continue
		}
		known = true
		if st.Running == nil && st.Queued == 0 && st.Waiting == 0 && st.Lock == nil {
			continue
		}
		line := fmt.Sprintf("%s in %s:", st.App, st.Env)
		if r := st.Running; r != nil {
			line += fmt.Sprintf(" #%d running %s (%s, %s)", r.ID, queue.ShortSHA(r.SHA), r.User, queue.Age(b.now().Sub(r.StartedAt)))
			if p := st.Progress; p != nil && p.Total > 0 {
				line += fmt.Sprintf(" %d/%d", p.Done, p.Total)
			}
		}
		if st.Queued > 0 {
			line += fmt.Sprintf(" %d queued", st.Queued)
		}
		if st.Waiting > 0 {
			line += fmt.Sprintf(" %d waiting", st.Waiting)
		}
		if l := st.Lock; l != nil {
			line += " " + lockText(l, b.now())
		}
		lines = append(lines, line)
	}
	if env != "" && !known {
		return Reply{}, queue.Errorf(queue.ENotFound, "unknown environment %q", env)
	}
	if len(lines) == 0 {
		where := "anywhere"
		if env != "" {
			where = "in " + env
		}
		return Reply{Text: "nothing running or queued " + where}, nil
	}
	return Reply{Text: strings.Join(lines, "\n")}, nil
}

func (b *Bot) where(ctx context.Context, c *Command, _ Message) (Reply, error) {
	app := c.App
	if _, _, err := b.svc.Lookup(app, ""); err != nil {
		return Reply{}, err
	}
	sts, err := b.svc.Environments(ctx)
	if err != nil {
		return Reply{}, err
	}
	var lines []string
	for _, st := range sts {
		if st.App != app {
			continue
		}
		line := st.Env + ": "
		if cur := st.Current; cur != nil {
			line += fmt.Sprintf("%s (#%d %s by %s, %s ago)", queue.ShortSHA(cur.SHA), cur.ID, cur.Ref, cur.User, queue.Age(b.now().Sub(cur.FinishedAt)))
		} else {
			line += "never deployed"
		}
		if r := st.Running; r != nil {
			line += fmt.Sprintf(", deploying %s (#%d)", queue.ShortSHA(r.SHA), r.ID)
		}
		if l := st.Lock; l != nil {
			line += " " + lockText(l, b.now())
		}
		if live := b.live(ctx, app, st.Env); live != "" {
			line += "\n  running now: " + live
		}
		lines = append(lines, line)
	}
	return Reply{Text: app + "\n" + strings.Join(lines, "\n")}, nil
}

// live asks the environment's runner what runs there now (the image in
// the cluster), briefly: `where` must answer even when the target does
// not.
func (b *Bot) live(ctx context.Context, app, env string) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	live, err := b.svc.Live(ctx, app, env)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return live
}

func (b *Bot) history(ctx context.Context, c *Command, _ Message) (Reply, error) {
	app, env := c.App, c.Env
	if _, _, err := b.svc.Lookup(app, env); err != nil {
		return Reply{}, err
	}
	ds, err := b.svc.Deploys(ctx, queue.DeployFilter{App: app, Env: env, Limit: 10})
	if err != nil {
		return Reply{}, err
	}
	if len(ds) == 0 {
		return Reply{Text: "no deploys of " + app + " yet"}, nil
	}
	var lines []string
	for _, d := range ds {
		line := fmt.Sprintf("#%d %s %s %s@%s by %s, %s ago", d.ID, d.Env, d.State, queue.ShortSHA(d.SHA), d.Ref, d.User,
			queue.Age(b.now().Sub(d.CreatedAt)))
		if d.Op != "" {
			line = fmt.Sprintf("#%d %s %s: %s by %s, %s ago", d.ID, d.Env, d.State, d.Describe(), d.User, queue.Age(b.now().Sub(d.CreatedAt)))
		}
		if d.Error != "" {
			line += ": " + d.Error
		}
		lines = append(lines, line)
	}
	return Reply{Text: strings.Join(lines, "\n")}, nil
}
