package slack

import (
	"fmt"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
	slackgo "github.com/slack-go/slack"
)

// Around a deploy's message: its log in the thread, the announcements in
// its environment's channel, the DM to whoever asked when it failed.

// announce tells the environment's channel that a deploy started or
// ended, when its message lives elsewhere.
func (w *watcher) announce() {
	w.mu.Lock()
	d := w.d
	w.mu.Unlock()
	channel := w.a.envChannel(d.Env)
	if channel == "" || channel == w.channel || d.State == w.announced ||
		d.State != queue.StateRunning && !d.State.Terminal() {
		return
	}
	w.announced = d.State
	link := fmt.Sprintf("<%s/api/v1/deploys/%d/log|#%d>", w.a.cfg.BaseURL, d.ID, d.ID)
	var text string
	switch d.State {
	case queue.StateRunning:
		text = fmt.Sprintf("%s %s is deploying %s `%s` to %s (%s)", stateEmoji[d.State], Escape(d.User), Escape(d.App), queue.ShortSHA(d.SHA), Escape(d.Env), link)
	case queue.StateSucceeded:
		text = fmt.Sprintf("%s %s `%s` is live in %s (%s by %s)", stateEmoji[d.State], Escape(d.App), queue.ShortSHA(d.SHA), Escape(d.Env), link, Escape(d.User))
	default:
		text = fmt.Sprintf("%s deploy %s of %s `%s` to %s %s", stateEmoji[d.State], link, Escape(d.App), queue.ShortSHA(d.SHA), Escape(d.Env), d.State)
		if d.Error != "" {
			text += ": " + Escape(d.Error)
		}
	}
	err := w.a.retry(w.a.ctx, func() error {
		_, _, err := w.a.api.PostMessageContext(w.a.ctx, channel, slackgo.MsgOptionText(clip(text, maxText), false))
		return err
	})
	if err != nil {
		w.a.log.Error("slack: announcement", "deploy", d.ID, "channel", channel, "err", err)
	}
}

// logThread is the thread that holds the log: the one the message is in,
// or the message's own.
func (w *watcher) logThread() string {
	if w.thread != "" {
		return w.thread
	}
	return w.ts
}

// postLines posts the waiting lines as one code block, as many as fit.
func (w *watcher) postLines() error {
	w.mu.Lock()
	if w.posts >= maxThreadPosts {
		w.skipped += len(w.lines)
		w.lines = nil
		w.mu.Unlock()
		return nil
	}
	var b strings.Builder
	n := 0
	for _, l := range w.lines {
		if n > 0 && b.Len()+len(l)+8 > maxPostChars {
			break
		}
		if len(l) > maxPostChars-8 {
			l = l[:maxPostChars-12] + " …"
		}
		b.WriteString(l + "\n")
		n++
	}
	chunk := w.lines[:n]
	if strings.TrimSpace(b.String()) == "" { // nothing to see: no post
		w.lines = w.lines[n:]
		w.mu.Unlock()
		return nil
	}
	w.mu.Unlock()

	text := "```\n" + b.String() + "```"
	err := w.a.retry(w.a.ctx, func() error {
		_, _, err := w.a.api.PostMessageContext(w.a.ctx, w.channel, slackgo.MsgOptionText(text, false),
			slackgo.MsgOptionTS(w.logThread()))
		return err
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.posts++
		w.lines = w.lines[len(chunk):]
		if len(w.lines) > 0 {
			w.firstLine = time.Now()
		}
	}
	return err
}

// finish says how many lines did not fit in the thread, and tells the
// person who asked in Slack when the deploy did not succeed.
func (w *watcher) finish() {
	w.mu.Lock()
	skipped, d := w.skipped, w.d
	w.mu.Unlock()
	if d.State == queue.StateFailed || d.State == queue.StateInterrupted {
		w.a.tellRequester(d)
	}
	if skipped == 0 {
		return
	}
	text := fmt.Sprintf("… %d more lines: <%s/api/v1/deploys/%d/log|full log>", skipped, w.a.cfg.BaseURL, w.id)
	err := w.a.retry(w.a.ctx, func() error {
		_, _, err := w.a.api.PostMessageContext(w.a.ctx, w.channel, slackgo.MsgOptionText(text, false),
			slackgo.MsgOptionTS(w.logThread()))
		return err
	})
	if err != nil {
		w.a.log.Error("slack: log summary", "deploy", w.id, "err", err)
	}
}

// tellRequester DMs the Slack user who asked for a deploy that failed:
// by name for deploys asked in chat, by email for auto-deploys (who
// pushed).
func (a *Adapter) tellRequester(d *queue.Deploy) {
	id := a.slackID(d.User)
	if d.Source == queue.SourceAuto {
		id = ""
		if email, err := a.svc.Meta(a.ctx, d.ID, queue.MetaAuthorEmail); err == nil && email != "" {
			if u, err := a.api.GetUserByEmailContext(a.ctx, email); err == nil {
				id = u.ID
			} else {
				a.log.Warn("slack: finding who pushed", "deploy", d.ID, "err", err)
			}
		}
	}
	if id == "" {
		return
	}
	text := fmt.Sprintf(":x: Your deploy #%d of %s to %s %s", d.ID, Escape(d.App), Escape(d.Env), d.State)
	if d.Error != "" {
		text += ": " + Escape(d.Error)
	}
	text += fmt.Sprintf(" (<%s/api/v1/deploys/%d/log|log>)", a.cfg.BaseURL, d.ID)
	err := a.retry(a.ctx, func() error {
		_, _, err := a.api.PostMessageContext(a.ctx, id, slackgo.MsgOptionText(clip(text, maxText), false))
		return err
	})
	if err != nil {
		a.log.Error("slack: DM about a failed deploy", "deploy", d.ID, "err", err)
	}
}
