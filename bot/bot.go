package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
)

// Bot carries chat commands out against the queue.
type Bot struct {
	svc     *queue.Service
	baseURL string
	now     func() time.Time
}

// New returns a Bot; baseURL makes log links.
func New(svc *queue.Service, baseURL string) *Bot {
	return &Bot{svc: svc, baseURL: strings.TrimRight(baseURL, "/"), now: time.Now}
}

// Reply is the bot's answer: short text, and the deploy it is about.
type Reply struct {
	Text   string
	Deploy *queue.Deploy
	// Lock is the lock a lock command took (Locked) or an unlock removed.
	Lock   *queue.Lock
	Locked bool
	// Err is set when the command was refused or failed; Text explains it.
	Err error
}

// Message is one chat message to handle.
type Message struct {
	User   string
	Text   string
	Thread string // the chat thread a deploy's messages go to
}

// Handle parses and carries out one message. It never panics on input and
// never returns a stack trace: errors become short text.
func (b *Bot) Handle(ctx context.Context, m Message) Reply {
	c, err := Parse(m.Text)
	if err != nil {
		return Reply{Text: err.Error(), Err: queue.Errorf(queue.EInvalid, "%s", err.Error())}
	}
	r, err := b.do(ctx, c, m)
	if err != nil {
		msg := queue.ErrorMessage(err)
		var pe *ParseError
		if errors.As(err, &pe) {
			msg = pe.Error()
		}
		if queue.ErrorCode(err) == queue.EInternal && msg == "internal error" {
			msg = "something went wrong on deployq's side; the server log has the details"
		}
		return Reply{Text: msg, Err: err}
	}
	return r
}

// LogURL is the link to a deploy's log.
func (b *Bot) LogURL(id int64) string {
	return fmt.Sprintf("%s/api/v1/deploys/%d/log", b.baseURL, id)
}

func (b *Bot) do(ctx context.Context, c *Command, m Message) (Reply, error) {
	switch c.Verb {
	case "help":
		return Reply{Text: "deployq commands:\n" + strings.Join(Help, "\n")}, nil
	case "deploy":
		d, err := b.svc.Submit(ctx, queue.Request{App: c.App, Env: c.Env, Ref: c.Ref, User: m.User,
			Source: queue.SourceChat, Force: c.Bang, Override: c.Override, ChatThread: m.Thread})
		if err != nil {
			return Reply{}, err
		}
		return b.queued(ctx, d, ""), nil
	case "rollback":
		d, err := b.svc.Rollback(ctx, queue.RollbackRequest{App: c.App, Env: c.Env, To: c.To, User: m.User, ChatThread: m.Thread})
		if err != nil {
			return Reply{}, err
		}
		return b.queued(ctx, d, "rollback "), nil
	case "cancel":
		d, err := b.svc.Cancel(ctx, c.ID, m.User)
		if err != nil {
			return Reply{}, err
		}
		if d.State == queue.StateRunning {
			return Reply{Text: fmt.Sprintf("canceling #%d (%s to %s): stopping its runner", d.ID, d.App, d.Env), Deploy: d}, nil
		}
		return Reply{Text: fmt.Sprintf("#%d canceled before it ran", d.ID), Deploy: d}, nil
	case "lock":
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
	case "unlock":
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
	case "queue":
		return b.queue(ctx, c.Env)
	case "where":
		return b.where(ctx, c.App)
	case "history":
		return b.history(ctx, c.App, c.Env)
	case "scale", "restart", "stop", "start":
		d, err := b.svc.Operate(ctx, queue.OpRequest{App: c.App, Env: c.Env, Op: c.Verb, Instances: c.N,
			User: m.User, Source: queue.SourceChat, ChatThread: m.Thread})
		if err != nil {
			return Reply{}, err
		}
		return b.queued(ctx, d, ""), nil
	case "continue":
		d, err := b.svc.Continue(ctx, c.ID, m.User)
		if err != nil {
			return Reply{}, err
		}
		return Reply{Text: fmt.Sprintf("#%d continues (%s to %s)", d.ID, d.App, d.Env)}, nil
	case "approve":
		d, err := b.svc.Approve(ctx, c.ID, m.User)
		if err != nil {
			return Reply{}, err
		}
		text := fmt.Sprintf("#%d approved by %s: %s", d.ID, m.User, d.State)
		if w := b.svc.View(d).Waiting; w != nil {
			text += " (" + w.Reason + ")"
		}
		return Reply{Text: text, Deploy: d}, nil
	case "reject":
		d, err := b.svc.Reject(ctx, c.ID, m.User, c.Reason)
		if err != nil {
			return Reply{}, err
		}
		return Reply{Text: fmt.Sprintf("#%d rejected: %s", d.ID, d.Error), Deploy: d}, nil
	case "freeze":
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
	case "unfreeze":
		f, err := b.svc.Unfreeze(ctx, c.Env, m.User)
		if err != nil {
			return Reply{}, err
		}
		text := fmt.Sprintf("unfroze %s (frozen by %s for %s)", f.Env, f.Owner, queue.Age(b.now().Sub(f.CreatedAt)))
		if still := b.svc.FreezeStatus(f.Env); still != "" {
			text += "\nstill: " + still
		}
		return Reply{Text: text}, nil
	case "promote":
		d, err := b.svc.Promote(ctx, queue.PromoteRequest{App: c.App, From: c.From, To: c.To, User: m.User, ChatThread: m.Thread})
		if err != nil {
			return Reply{}, err
		}
		return b.queued(ctx, d, "promotion "), nil
	}
	return Reply{}, queue.Errorf(queue.EUnsupported, "%s is not supported by this server yet", c.Verb)
}

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
		States: []queue.State{queue.StateQueued, queue.StateRunning}, Limit: -1})
	n := 0
	for _, a := range ahead {
		if a.ID < d.ID {
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

func (b *Bot) queue(ctx context.Context, env string) (Reply, error) {
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

func lockText(l *queue.Lock, now time.Time) string {
	s := fmt.Sprintf("[locked by %s %s ago", l.Owner, queue.Age(now.Sub(l.CreatedAt)))
	if l.Reason != "" {
		s += ": " + l.Reason
	}
	return s + "]"
}

func (b *Bot) where(ctx context.Context, app string) (Reply, error) {
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
		if c := st.Current; c != nil {
			line += fmt.Sprintf("%s (#%d %s by %s, %s ago)", queue.ShortSHA(c.SHA), c.ID, c.Ref, c.User, queue.Age(b.now().Sub(c.FinishedAt)))
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

func (b *Bot) history(ctx context.Context, app, env string) (Reply, error) {
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
