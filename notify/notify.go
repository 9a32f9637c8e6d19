// Package notify announces deploys, locks and freezes beyond Slack: to a
// signed JSON webhook, Mattermost, Discord and Microsoft Teams. What a
// change owes each sink goes into the queue's outbox in the transaction
// of the change (deploys) or right after it (locks, freezes), and is
// delivered from there in order per deploy, retried, across restarts.
package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/deployq/deployq/outbox"
	"github.com/deployq/deployq/queue"
)

// The kinds of sinks.
const (
	KindWebhook    = "webhook"
	KindMattermost = "mattermost"
	KindDiscord    = "discord"
	KindTeams      = "teams"
)

// Kinds lists the kinds of sinks.
var Kinds = []string{KindWebhook, KindMattermost, KindDiscord, KindTeams}

// The events a sink may hear of.
const (
	EventQueued      = "queued"
	EventWaiting     = "waiting"
	EventStarted     = "started"
	EventVerifying   = "verifying"
	EventSucceeded   = "succeeded"
	EventFailed      = "failed"
	EventCanceled    = "canceled"
	EventInterrupted = "interrupted"
	EventSuperseded  = "superseded"
	EventRolledBack  = "rolled_back" // a rollback succeeded
	EventLocked      = "locked"
	EventUnlocked    = "unlocked"
	EventFrozen      = "frozen"
	EventUnfrozen    = "unfrozen"
)

// Events lists every event.
var Events = []string{EventQueued, EventWaiting, EventStarted, EventVerifying, EventSucceeded, EventFailed,
	EventCanceled, EventInterrupted, EventSuperseded, EventRolledBack, EventLocked, EventUnlocked, EventFrozen, EventUnfrozen}

// Sink is one place announcements go.
type Sink struct {
	Name   string // unique: it names the sink's messages in the outbox
	Kind   string
	URL    string
	Secret string // webhook: the key of its signature
	// Token and Channel make a mattermost sink a bot (URL is then the
	// server's): it posts with the token to the channel (its id) and
	// edits a deploy's message in place.
	Token, Channel string
	Events         []string // what it hears of; empty: everything
	// App and Env, when set, limit it to the deploys, locks and freezes
	// of that app and environment.
	App, Env string
}

func (s *Sink) hears(event, app, env string) bool {
	return (len(s.Events) == 0 || slices.Contains(s.Events, event)) &&
		(s.Env == "" || s.Env == env) && (s.App == "" || app == "" || s.App == app)
}

// prefix is what the keys of every notify message begin with.
const prefix = "notify:"

// Notifier is a queue.Mailer, queue.Notifier and queue.FreezeNotifier
// that announces to its sinks.
type Notifier struct {
	sinks   map[string]*Sink
	order   []*Sink
	baseURL string
	svc     *queue.Service
	client  *http.Client
	log     *slog.Logger
	courier *outbox.Courier
	ctx     context.Context
	now     func() time.Time
	done    chan struct{}
}

// New returns a notifier of sinks; baseURL is deployq's, for links.
func New(sinks []Sink, baseURL string, log *slog.Logger) *Notifier {
	if log == nil {
		log = slog.Default()
	}
	n := &Notifier{sinks: map[string]*Sink{}, baseURL: strings.TrimSuffix(baseURL, "/"), log: log,
		client: &http.Client{Timeout: 30 * time.Second}, courier: outbox.New("notify", prefix, log), ctx: context.Background(), now: time.Now,
		done: make(chan struct{})}
	for i := range sinks {
		s := sinks[i]
		n.sinks[s.Name] = &s
		n.order = append(n.order, &s)
	}
	n.courier.Send, n.courier.Retry = n.send, n.retry
	return n
}

// SetMinBackoff sets the first retry delay after a failed send (tests).
func (n *Notifier) SetMinBackoff(d time.Duration) { n.courier.MinBackoff = d }

// Start delivers until ctx ends; Wait waits for that end.
func (n *Notifier) Start(ctx context.Context, svc *queue.Service) {
	n.svc, n.ctx, n.courier.Box = svc, ctx, svc.Outbox()
	go func() {
		defer close(n.done)
		n.courier.Run(ctx)
	}()
}

// Wait returns once the notifier started by Start stopped.
func (n *Notifier) Wait() { <-n.done }

// Event is what a sink hears: the body a webhook gets, as documented.
type Event struct {
	Event  string    `json:"event"`
	At     time.Time `json:"at"`
	Text   string    `json:"text"` // one line for people
	Deploy *Deploy   `json:"deploy,omitempty"`
	Lock   *Lock     `json:"lock,omitempty"`
	Freeze *Freeze   `json:"freeze,omitempty"`
}

// Deploy is a deploy in an event.
type Deploy struct {
	ID         int64  `json:"id"`
	App        string `json:"app"`
	Env        string `json:"env"`
	Ref        string `json:"ref"`
	SHA        string `json:"sha"`
	State      string `json:"state"`
	User       string `json:"user"`
	Source     string `json:"source"`
	Op         string `json:"op,omitempty"`
	Error      string `json:"error,omitempty"`
	WaitingFor string `json:"waiting_for,omitempty"`
	URL        string `json:"url"`
	LogURL     string `json:"log_url"`
}

// Lock is a lock in an event.
type Lock struct {
	Env       string     `json:"env"`
	App       string     `json:"app,omitempty"`
	Owner     string     `json:"owner"`
	Reason    string     `json:"reason"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Freeze is a freeze in an event.
type Freeze struct {
	Env    string     `json:"env"`
	Owner  string     `json:"owner"`
	Reason string     `json:"reason"`
	EndsAt *time.Time `json:"ends_at,omitempty"`
}

// eventOf is the event a deploy's new state is, "" for none.
func eventOf(d *queue.Deploy) string {
	switch d.State {
	case queue.StateRunning:
		return EventStarted
	case queue.StateSucceeded:
		if d.Source == queue.SourceRollback {
			return EventRolledBack
		}
		return EventSucceeded
	case queue.StateQueued, queue.StateWaiting, queue.StateVerifying, queue.StateFailed, queue.StateCanceled,
		queue.StateInterrupted, queue.StateSuperseded:
		return string(d.State)
	}
	return ""
}

// Letters implements queue.Mailer: each sink that hears of the deploy's
// new state is owed its event, in order after the deploy's earlier ones.
func (n *Notifier) Letters(d *queue.Deploy) []queue.Letter {
	ev := eventOf(d)
	if ev == "" {
		return nil
	}
	var out []queue.Letter
	var body string
	for _, s := range n.order {
		if !s.hears(ev, d.App, d.Env) {
			continue
		}
		if body == "" {
			b, _ := json.Marshal(n.deployEvent(ev, d))
			body = string(b)
		}
		out = append(out, queue.Letter{Key: fmt.Sprintf("%s%s:deploy:%d", prefix, s.Name, d.ID), Body: body})
	}
	return out
}

func (n *Notifier) deployEvent(ev string, d *queue.Deploy) Event {
	j := &Deploy{ID: d.ID, App: d.App, Env: d.Env, Ref: d.Ref, SHA: d.SHA, State: string(d.State), User: d.User,
		Source: string(d.Source), Op: d.Op, Error: d.Error, URL: fmt.Sprintf("%s/#/deploy/%d", n.baseURL, d.ID),
		LogURL: fmt.Sprintf("%s/api/v1/deploys/%d/log", n.baseURL, d.ID)}
	if d.Waiting != nil {
		j.WaitingFor = d.Waiting.Reason
	}
	what := d.Describe()
	text := fmt.Sprintf("#%d %s by %s: %s", d.ID, what, d.User, ev)
	switch ev {
	case EventWaiting:
		text += ": " + j.WaitingFor
	case EventRolledBack:
		text = fmt.Sprintf("#%d %s rolled back to %s by %s", d.ID, d.Env, queue.ShortSHA(d.SHA), d.User)
	case EventFailed, EventCanceled, EventInterrupted:
		if d.Error != "" {
			text += ": " + d.Error
		}
	}
	return Event{Event: ev, At: n.now().UTC(), Text: text, Deploy: j}
}

// DeployChanged implements queue.Notifier: the courier looks now.
func (n *Notifier) DeployChanged(*queue.Deploy) { n.courier.Poke() }

// LockChanged implements queue.Notifier.
func (n *Notifier) LockChanged(l *queue.Lock, locked bool) {
	ev, verb := EventLocked, "locked"
	if !locked {
		ev, verb = EventUnlocked, "unlocked"
	}
	scope := l.Env
	if l.App != "" {
		scope = l.App + " in " + l.Env
	}
	text := fmt.Sprintf("%s %s by %s", scope, verb, l.Owner)
	if locked && l.Reason != "" {
		text += ": " + l.Reason
	}
	j := &Lock{Env: l.Env, App: l.App, Owner: l.Owner, Reason: l.Reason}
	if !l.ExpiresAt.IsZero() {
		t := l.ExpiresAt.UTC()
		j.ExpiresAt = &t
	}
	n.add(ev, l.App, l.Env, "lock:"+l.Env+"/"+l.App, Event{Event: ev, At: n.now().UTC(), Text: text, Lock: j})
}

// FreezeChanged implements queue.FreezeNotifier.
func (n *Notifier) FreezeChanged(f *queue.Freeze, frozen bool) {
	ev, text := EventFrozen, fmt.Sprintf("%s frozen by %s: %s", f.Env, f.Owner, f.Reason)
	if !frozen {
		ev, text = EventUnfrozen, fmt.Sprintf("%s unfrozen (frozen by %s: %s)", f.Env, f.Owner, f.Reason)
	}
	j := &Freeze{Env: f.Env, Owner: f.Owner, Reason: f.Reason}
	if !f.EndsAt.IsZero() {
		t := f.EndsAt.UTC()
		j.EndsAt = &t
	}
	n.add(ev, "", f.Env, "freeze:"+f.Env, Event{Event: ev, At: n.now().UTC(), Text: text, Freeze: j})
}

// add puts an event of a lock or a freeze in the outbox for each sink
// that hears of it.
func (n *Notifier) add(ev, app, env, what string, e Event) {
	if n.svc == nil {
		return
	}
	body, _ := json.Marshal(e)
	for _, s := range n.order {
		if !s.hears(ev, app, env) {
			continue
		}
		if err := n.svc.Outbox().OutboxAdd(context.WithoutCancel(n.ctx), prefix+s.Name+":"+what, string(body)); err != nil {
			n.log.Error("notify: keeping an announcement", "sink", s.Name, "event", ev, "err", err)
		}
	}
	n.courier.Poke()
}

// sinkOf is the sink of an outbox key: notify:NAME:...
func (n *Notifier) sinkOf(key string) *Sink {
	rest := strings.TrimPrefix(key, prefix)
	name, _, _ := strings.Cut(rest, ":")
	return n.sinks[name]
}

// deployOf is the deploy id of a deploy event's key, 0 for others.
func deployOf(key string) int64 {
	i := strings.LastIndex(key, ":deploy:")
	if i < 0 {
		return 0
	}
	id, _ := strconv.ParseInt(key[i+len(":deploy:"):], 10, 64)
	return id
}
