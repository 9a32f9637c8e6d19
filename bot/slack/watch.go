package slack

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
	slackgo "github.com/slack-go/slack"
)

// metaMessage is the deploy meta key of its Slack message: "CHANNEL TS".
const metaMessage = "slack.message"

// metaShown is the end state its message shows.
const metaShown = "slack.shown"

const (
	maxPostChars   = 12000 // per thread post; Slack takes 40k, shows less
	maxThreadPosts = 30    // per deploy; then "… N more lines"
	maxBuffered    = 20000 // lines waiting for Slack
)

// DeployChanged implements queue.Notifier: it never blocks; the newest
// change of each deploy is handed to that deploy's watcher.
func (a *Adapter) DeployChanged(d *queue.Deploy) {
	c := *d
	a.mu.Lock()
	a.pending[d.ID] = &c
	a.mu.Unlock()
	a.signal()
}

// signal wakes the dispatcher.
func (a *Adapter) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// dispatch hands the changes of deploys to their watchers, starting one
// for a deploy that has none. While Slack does not answer, changes wait
// (the latest of each deploy) until it does.
func (a *Adapter) dispatch() {
	defer a.wg.Done()
	done := newSeen(4096)
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-a.wake:
		}
		if !a.waitUp() {
			return
		}
		a.mu.Lock()
		batch := a.pending
		a.pending = map[int64]*queue.Deploy{}
		a.mu.Unlock()
		for _, d := range batch {
			a.watchDeploy(d, func() bool { return done.first(fmt.Sprint(d.ID)) })
		}
	}
}

// cardChannel is where d's message goes (and its thread, if any): the
// thread it was asked in, else its environment's channel ("": nowhere).
func (a *Adapter) cardChannel(d *queue.Deploy) (channel, thread string) {
	channel, thread, ok := parseThreadRef(d.ChatThread)
	if !ok {
		channel = a.envChannel(d.Env)
	}
	return channel, thread
}

// watchDeploy hands d to its watcher, or starts one if fresh() allows
// (a deploy watched to its end before is not, unless its end is owed).
// It reports whether d has a watcher now.
func (a *Adapter) watchDeploy(d *queue.Deploy, fresh func() bool) bool {
	a.starting.Lock() // one watcher a deploy, whoever asks
	defer a.starting.Unlock()
	a.mu.Lock()
	w := a.watch[d.ID]
	a.mu.Unlock()
	if w != nil {
		w.set(d)
		return true
	}
	channel, thread := a.cardChannel(d)
	if channel == "" || !fresh() {
		return false
	}
	w = &watcher{a: a, id: d.ID, d: d, dirty: true, channel: channel, thread: thread, wake: make(chan struct{}, 1)}
	if d.Source == queue.SourceActions {
		w.link, _ = a.svc.Meta(a.ctx, d.ID, queue.MetaLink)
	}
	// The message may exist from before a restart, or another server's:
	// update it.
	if ref, err := a.svc.Meta(a.ctx, d.ID, metaMessage); err == nil && ref != "" {
		if ch, ts, ok := strings.Cut(ref, " "); ok {
			w.channel, w.ts = ch, ts
		}
	}
	a.mu.Lock()
	a.watch[d.ID] = w
	a.mu.Unlock()
	a.wg.Add(1)
	go w.run()
	return true
}

// watched reports whether a watcher of this adapter shows deploy id.
func (a *Adapter) watched(id int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.watch[id] != nil
}

// watcher owns one deploy's message and thread.
type watcher struct {
	a       *Adapter
	id      int64
	channel string
	thread  string // where the message was posted ("" top level)
	ts      string // the message

	link      string      // the deploy's page outside deployq (queue.MetaLink), read when the watcher starts
	announced queue.State // last state announced in the env channel
	claimed   bool        // the right to post the message was asked for

	mu        sync.Mutex
	d         *queue.Deploy
	dirty     bool
	lines     []string
	firstLine time.Time
	logDone   bool
	skipped   int
	posts     int
	wake      chan struct{}
}

func (w *watcher) set(d *queue.Deploy) {
	w.mu.Lock()
	w.d, w.dirty = d, true
	w.mu.Unlock()
	w.signal()
}

func (w *watcher) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *watcher) addLines(lines []queue.LogLine) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.lines) == 0 {
		w.firstLine = time.Now()
	}
	for _, l := range lines {
		text := l.Text
		if l.Host != "" {
			text = "[" + l.Host + "] " + text
		}
		w.lines = append(w.lines, Escape(strings.ReplaceAll(text, "```", "'''")))
	}
	if over := len(w.lines) - maxBuffered; over > 0 { // Slack is not taking them
		w.skipped += over
		w.lines = append(w.lines[:0], w.lines[over:]...)
	}
	w.signal()
	return nil
}

func (w *watcher) view() DeployView {
	w.mu.Lock()
	d := w.d
	w.mu.Unlock()
	qv := w.a.svc.View(d)
	v := DeployView{Deploy: d, LogURL: fmt.Sprintf("%s/api/v1/deploys/%d/log", w.a.cfg.BaseURL, d.ID), Now: time.Now(),
		Progress: qv.Progress, NeedsApproval: qv.NeedsApproval, Repo: qv.Repo, Link: w.link}
	if qv.Waiting != nil {
		v.WaitingFor = qv.Waiting.Reason
	}
	return v
}

func (w *watcher) run() {
	a := w.a
	defer a.wg.Done()
	defer func() {
		a.mu.Lock()
		delete(a.watch, w.id)
		a.mu.Unlock()
	}()
	go func() {
		_, err := a.svc.FollowLog(a.ctx, w.id, 0, w.addLines)
		if err != nil && a.ctx.Err() == nil {
			a.log.Error("slack: following the log", "deploy", w.id, "err", err)
		}
		w.mu.Lock()
		w.logDone = true
		w.mu.Unlock()
		w.signal()
	}()
	interval := a.PostInterval
	var lastUpdate, lastPost time.Time
	failures := 0
	for a.ctx.Err() == nil {
		now := time.Now()
		w.mu.Lock()
		dirty, terminal, logDone := w.dirty, w.d.State.Terminal(), w.logDone
		pendingLines := len(w.lines) > 0
		postDue := w.firstLine.Add(interval)
		if lastPost.Add(interval).After(postDue) {
			postDue = lastPost.Add(interval)
		}
		w.mu.Unlock()

		switch {
		case w.ts == "" || dirty && !now.Before(lastUpdate.Add(interval)):
			if err := w.update(); unreachable(err) {
				a.waitUp() // the message is owed, not failed
				continue
			} else if err != nil {
				failures++
				a.log.Error("slack: deploy message", "deploy", w.id, "err", err, "attempt", failures)
				if failures >= 8 && terminal {
					return // Slack keeps refusing; the deploy is not held hostage
				}
				w.sleep(time.Duration(failures) * interval)
				continue
			}
			failures, lastUpdate = 0, time.Now()
			w.announce()
			continue
		case pendingLines && w.ts != "" && !now.Before(postDue):
			if err := w.postLines(); unreachable(err) {
				a.waitUp()
			} else if err != nil {
				a.log.Error("slack: log in thread", "deploy", w.id, "err", err)
			}
			lastPost = time.Now()
			continue
		case terminal && logDone && !pendingLines && !dirty:
			w.finish()
			return
		}
		next := postDue
		if dirty && lastUpdate.Add(interval).Before(next) || !pendingLines {
			next = lastUpdate.Add(interval)
		}
		if !dirty && !pendingLines {
			next = now.Add(time.Hour)
		}
		w.sleep(time.Until(next))
	}
}

// sleep waits for d or a signal.
func (w *watcher) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.a.ctx.Done():
	case <-w.wake:
	case <-t.C:
	}
}

// update posts the deploy's message, or updates it in place, showing the
// deploy as stored.
func (w *watcher) update() error {
	w.mu.Lock()
	w.dirty = false
	w.mu.Unlock()
	w.reread()
	if w.ts == "" && !w.claimed {
		w.claimed = true
		w.adopt()
	}
	v := w.view()
	opts := []slackgo.MsgOption{slackgo.MsgOptionText(Summary(v), false), slackgo.MsgOptionBlocks(DeployBlocks(v)...)}
	err := w.a.retry(w.a.ctx, func() error {
		if w.ts == "" {
			if w.thread != "" {
				opts = append(opts, slackgo.MsgOptionTS(w.thread))
			}
			ch, ts, err := w.a.api.PostMessageContext(w.a.ctx, w.channel, opts...)
			if err == nil {
				if isUser(w.channel) && ch != "" {
					w.channel = ch // a DM: updates go to the channel Slack made of it
				}
				w.ts = ts
				if err := w.a.svc.SetMeta(context.WithoutCancel(w.a.ctx), w.id, metaMessage, w.channel+" "+ts); err != nil {
					w.a.log.Error("slack: keeping the message of a deploy", "deploy", w.id, "err", err)
				}
			}
			return err
		}
		_, _, _, err := w.a.api.UpdateMessageContext(w.a.ctx, w.channel, w.ts, opts...)
		return err
	})
	if err == nil && v.Deploy.State.Terminal() {
		if err := w.a.svc.SetMeta(context.WithoutCancel(w.a.ctx), w.id, metaShown, string(v.Deploy.State)); err != nil {
			w.a.log.Error("slack: keeping the shown state", "deploy", w.id, "err", err)
		}
	} else if err == nil { // moved on meanwhile, elsewhere: show that too
		if d, rerr := w.a.svc.Deploy(w.a.ctx, w.id); rerr == nil && d.State != v.Deploy.State {
			w.set(d)
		}
	}
	if err != nil {
		w.mu.Lock()
		w.dirty = true
		w.mu.Unlock()
	}
	return err
}

// isUser reports whether a message's channel is a user id: Slack posts
// it in the user's direct messages with the bot.
func isUser(channel string) bool {
	return strings.HasPrefix(channel, "U") || strings.HasPrefix(channel, "W")
}

// reread takes the deploy as stored: another server sharing the store
// may have moved it since this watcher heard of it (this server was
// paused, say), and a message never goes back to what was true before.
func (w *watcher) reread() {
	d, err := w.a.svc.Deploy(w.a.ctx, w.id)
	if err != nil {
		return // what this watcher heard last
	}
	w.mu.Lock()
	w.d = d
	w.mu.Unlock()
}

// adopt makes the message another server posts for the deploy this
// watcher's own, when that server has the right to post it (the first
// to ask; the store says which): it waits for it up to Handover, and
// posts one itself only if none came (that server died meanwhile).
func (w *watcher) adopt() {
	a := w.a
	if first, err := a.svc.Once(a.ctx, fmt.Sprintf("slack.card:%d", w.id)); err != nil || first {
		return
	}
	deadline := time.Now().Add(a.Handover)
	for wait := 20 * time.Millisecond; a.ctx.Err() == nil && time.Now().Before(deadline); wait = min(wait*2, 500*time.Millisecond) {
		if ref, err := a.svc.Meta(a.ctx, w.id, metaMessage); err == nil && ref != "" {
			if ch, ts, ok := strings.Cut(ref, " "); ok {
				w.channel, w.ts = ch, ts
				return
			}
		}
		w.sleep(wait)
	}
}

// Idle waits until the messages of ended deploys show their end (or the
// adapter's context ends, or Slack does not answer); a stopping server
// calls it.
func (a *Adapter) Idle() {
	for a.ctx != nil && a.ctx.Err() == nil && a.Health() == nil {
		a.mu.Lock()
		busy := len(a.pending) > 0
		for _, w := range a.watch {
			w.mu.Lock()
			busy = busy || w.d.State.Terminal()
			w.mu.Unlock()
		}
		a.mu.Unlock()
		if !busy {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reconcile brings the messages of recent deploys up to date: their state
// may have changed while this adapter was not running.
func (a *Adapter) reconcile(ctx context.Context) {
	ds, err := a.svc.Deploys(ctx, queue.DeployFilter{Limit: 200})
	if err != nil {
		a.log.Error("slack: reconciling messages", "err", err)
		return
	}
	for _, d := range ds {
		if !d.State.Terminal() {
			continue // the queue tells us when it moves
		}
		ref, err1 := a.svc.Meta(ctx, d.ID, metaMessage)
		shown, err2 := a.svc.Meta(ctx, d.ID, metaShown)
		if err1 == nil && err2 == nil && ref != "" && shown != string(d.State) {
			a.DeployChanged(d)
		}
	}
}
