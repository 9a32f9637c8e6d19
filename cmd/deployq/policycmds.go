package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
)

// The client commands that hold deploys back or let them go: lock,
// unlock, freeze, unfreeze, approve and reject.

func lock(ctx context.Context, x *call) error {
	p, c, cmd, err := x.connectAndRead()
	if err != nil {
		return err
	}
	ttl := ""
	if cmd.Duration > 0 {
		ttl = cmd.Duration.String()
	}
	l, err := c.Lock(ctx, cmd.Env, cmd.App, cmd.Reason, ttl, p.on("steal"))
	if err != nil {
		return err
	}
	fmt.Fprintf(x.stdout, "locked %s by %s", scope(cmd.App, cmd.Env), l.Owner)
	if l.ExpiresAt != nil {
		fmt.Fprintf(x.stdout, " until %s", clock(*l.ExpiresAt))
	}
	fmt.Fprintln(x.stdout)
	return nil
}

func unlock(ctx context.Context, x *call) error {
	_, c, cmd, err := x.connectAndRead()
	if err != nil {
		return err
	}
	if cmd.All {
		ls, err := c.UnlockAll(ctx)
		if err != nil {
			return err
		}
		if len(ls) == 0 {
			fmt.Fprintln(x.stdout, "nothing was locked")
		}
		for _, l := range ls {
			fmt.Fprintf(x.stdout, "unlocked %s (held by %s)\n", scope(l.App, l.Env), l.Owner)
		}
		return nil
	}
	l, err := c.Unlock(ctx, cmd.Env, cmd.App)
	if err != nil {
		return err
	}
	fmt.Fprintf(x.stdout, "unlocked %s (held by %s)\n", scope(cmd.App, cmd.Env), l.Owner)
	return nil
}

// scope is "ENV" or "APP in ENV".
func scope(app, env string) string {
	if app == "" {
		return env
	}
	return app + " in " + env
}

// clock is a time as the CLI shows it: 24-hour, local, with the zone.
func clock(t time.Time) string {
	t, now := t.Local(), time.Now()
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format("15:04 MST")
	}
	return t.Format("2006-01-02 15:04 MST")
}

func freeze(ctx context.Context, x *call) error {
	_, c, cmd, err := x.connectAndRead()
	if err != nil {
		return err
	}
	ttl := ""
	if cmd.Duration > 0 {
		ttl = cmd.Duration.String()
	}
	f, err := c.Freeze(ctx, cmd.Env, cmd.Reason, ttl)
	if err != nil {
		return err
	}
	text := "froze " + f.Env + " until unfreeze"
	if f.EndsAt != nil {
		text = fmt.Sprintf("froze %s until %s", f.Env, clock(*f.EndsAt))
	}
	if f.Reason != "" {
		text += ": " + f.Reason
	}
	fmt.Fprintln(x.stdout, text)
	return nil
}

func unfreeze(ctx context.Context, x *call) error {
	_, c, cmd, err := x.connectAndRead()
	if err != nil {
		return err
	}
	f, err := c.Unfreeze(ctx, cmd.Env)
	if err != nil {
		return err
	}
	fmt.Fprintf(x.stdout, "unfroze %s (frozen by %s for %s)\n", f.Env, f.Owner, queue.Age(time.Since(f.CreatedAt)))
	// A freeze window of the config may hold it still.
	fs, err := c.Freezes(ctx)
	if err != nil {
		return err
	}
	for _, st := range fs.Frozen {
		if st.Env == f.Env {
			fmt.Fprintf(x.stdout, "still: %s\n", st.Status)
		}
	}
	return nil
}

func approve(ctx context.Context, x *call) error {
	_, c, cmd, err := x.connectAndRead()
	if err != nil {
		return err
	}
	d, err := c.Approve(ctx, cmd.ID)
	if err != nil {
		return err
	}
	text := fmt.Sprintf("#%d approved: %s", d.ID, d.State)
	if d.WaitingFor != "" {
		text += " (" + d.WaitingFor + ")"
	}
	fmt.Fprintln(x.stdout, text)
	return nil
}

func reject(ctx context.Context, x *call) error {
	_, c, cmd, err := x.connectAndRead()
	if err != nil {
		return err
	}
	d, err := c.Reject(ctx, cmd.ID, cmd.Reason)
	if err != nil {
		return err
	}
	fmt.Fprintf(x.stdout, "#%d rejected: %s\n", d.ID, strings.TrimSpace(d.Error))
	return nil
}

func markBad(ctx context.Context, x *call) error {
	_, c, cmd, err := x.connectAndRead()
	if err != nil {
		return err
	}
	b, err := c.MarkBad(ctx, cmd.App, cmd.Ref, cmd.Reason)
	if err != nil {
		return err
	}
	text := fmt.Sprintf("marked %s@%s bad: it is not deployed again by itself, and a deploy of it needs --force", b.App, queue.ShortSHA(b.SHA))
	if b.Reason != "" {
		text += " (" + b.Reason + ")"
	}
	fmt.Fprintln(x.stdout, text)
	return nil
}

func unmarkBad(ctx context.Context, x *call) error {
	_, c, cmd, err := x.connectAndRead()
	if err != nil {
		return err
	}
	b, err := c.UnmarkBad(ctx, cmd.App, cmd.Ref)
	if err != nil {
		return err
	}
	fmt.Fprintf(x.stdout, "%s@%s is no longer marked bad (it was, by %s)\n", b.App, queue.ShortSHA(b.SHA), b.User)
	return nil
}
