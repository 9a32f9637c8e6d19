package bot

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
)

// The commands that only tell: where, history, help (and queue, in
// queue.go).

func (b *Bot) help(context.Context, *Command, Message) (Reply, error) {
	return Reply{Text: "deployq commands:\n" + strings.Join(Help, "\n")}, nil
}

func (b *Bot) where(ctx context.Context, c *Command, _ Message) (Reply, error) {
	a, _, err := b.svc.Lookup(c.App, "")
	if err != nil {
		return Reply{}, err
	}
	app := a.Name
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
		if r := st.Running; r != nil && r.State == queue.StateVerifying {
			line += fmt.Sprintf(", verifying %s (#%d)", queue.ShortSHA(r.SHA), r.ID)
			if p := st.Progress; p != nil && p.Message != "" {
				line += ": " + p.Message
			}
		} else if r != nil {
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
	a, e, err := b.svc.Lookup(c.App, c.Env)
	if err != nil {
		return Reply{}, err
	}
	app, env := a.Name, ""
	if c.Env != "" {
		env = e.Name
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
