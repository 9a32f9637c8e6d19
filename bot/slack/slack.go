// Package slack is deployq's Slack adapter (slack-go/slack): commands from
// mentions, direct messages and /deploy over Socket Mode or signed HTTP,
// one Block Kit message per deploy updated in place, the deploy's log in
// its thread, and buttons.
package slack

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/queue"
	"github.com/robfig/cron/v3"
	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// Config configures the adapter.
type Config struct {
	Mode          string            // "socket" (default) or "http"
	BotToken      string            // xoxb-...
	AppToken      string            // xapp-..., Socket Mode
	SigningSecret string            // HTTP mode
	Channel       string            // announcements: deploys not asked for in Slack
	Channels      map[string]string // an environment's own announcement channel
	APIURL        string            // default Slack's; ends with "/"
	BaseURL       string            // deployq's, for log links
	// LockNagAfter: a lock held longer gets its holder a reminder DM with
	// an Unlock button (0: never).
	LockNagAfter time.Duration
	// AllowBots are the bots (bot ids) whose mentions and direct messages
	// run commands; other bots and workflows are ignored.
	AllowBots []string
}

// Adapter connects deployq to Slack. It is a queue.Notifier.
type Adapter struct {
	cfg  Config
	api  *slackgo.Client
	svc  *queue.Service
	bot  *bot.Bot
	log  *slog.Logger
	now  func() time.Time
	seen *seen
	dir  *directory
	link *link
	// people maps Slack users to people (config people); a Slack user no
	// person lists is "slack:<user name>".
	people *queue.People

	ctx      context.Context
	work     chan func() // commands, run in order by one worker
	starting sync.Mutex  // held while a watcher is looked for or started
	ident    string      // this adapter, as the letters it writes name it
	mu       sync.Mutex
	pending  map[int64]*queue.Deploy // latest change not yet handed to a watcher
	watch    map[int64]*watcher
	wake     chan struct{}
	wg       sync.WaitGroup

	// PostInterval is the least time between two posts in one thread and
	// two updates of one message (Slack allows about one a second).
	PostInterval time.Duration
	// NagEvery is how often locks are checked for reminders.
	NagEvery time.Duration
	// Handover is how long the end a deploy owes its message is left to
	// the server that ended it (its watcher shows it) before another
	// server sharing the store shows it (the first died meanwhile).
	Handover time.Duration
	// AnswerWithin is how long a form's submission may take to be carried
	// out before its form closes and the outcome is told in a message
	// instead (Slack waits 3 s for the answer to a form).
	AnswerWithin time.Duration
	// HomeEvery is how long after a change the Home tabs opened lately
	// are drawn again (the changes meanwhile show together).
	HomeEvery time.Duration

	homeMu  sync.Mutex
	homes   map[string]time.Time // Slack user -> when they last opened their Home tab
	homeDue bool                 // a redraw is on its way

	lockReplies map[string]time.Time // scope/owner/channel answered in chat
	nagged      map[string]time.Time // lock -> last reminder
}

// New returns an adapter. Give it to the queue as a Notifier, then call
// Start.
func New(cfg Config, log *slog.Logger) *Adapter {
	opts := []slackgo.Option{slackgo.OptionHTTPClient(&http.Client{Timeout: callTimeout})}
	if cfg.APIURL != "" {
		opts = append(opts, slackgo.OptionAPIURL(cfg.APIURL))
	}
	if cfg.AppToken != "" {
		opts = append(opts, slackgo.OptionAppLevelToken(cfg.AppToken))
	}
	if cfg.Mode == "" {
		cfg.Mode = "socket"
	}
	if log == nil {
		log = slog.Default()
	}
	return &Adapter{cfg: cfg, api: slackgo.New(cfg.BotToken, opts...), log: log, ident: rand.Text(),
		now: time.Now, seen: newSeen(4096), dir: newDirectory(), link: newLink(), work: make(chan func(), 1024), pending: map[int64]*queue.Deploy{}, watch: map[int64]*watcher{},
		wake: make(chan struct{}, 1), PostInterval: time.Second, NagEvery: time.Minute, Handover: 10 * time.Second, AnswerWithin: 2500 * time.Millisecond, HomeEvery: 5 * time.Second,
		lockReplies: map[string]time.Time{}, nagged: map[string]time.Time{}}
}

// SetClock replaces the clock used to check request timestamps (tests).
func (a *Adapter) SetClock(now func() time.Time) { a.now = now }

// Start runs the adapter until ctx ends: the command worker, the message
// dispatcher, and in socket mode the Socket Mode connection (reconnecting
// as needed). Changes the queue reported before Start are handled then.
// Start does not wait for Slack: when Slack does not answer, deployq runs
// without it (Health says why) until it does.
func (a *Adapter) Start(ctx context.Context, svc *queue.Service, b *bot.Bot) {
	a.svc, a.bot, a.ctx = svc, b, ctx
	a.wg.Add(3)
	go a.dispatch()
	go a.worker()
	go a.owed()
	a.probe()
	a.signal() // what the queue said before Start
	if a.cfg.Mode == "socket" {
		a.wg.Add(1)
		go a.runSocket()
	}
	if a.cfg.LockNagAfter > 0 {
		c := cron.New()
		c.Schedule(cron.Every(a.NagEvery), cron.FuncJob(a.nag))
		c.Start()
		go func() { <-ctx.Done(); <-c.Stop().Done() }()
	}
}

// Wait waits for the adapter's goroutines after ctx ended.
func (a *Adapter) Wait() { a.wg.Wait() }

// worker runs commands one at a time, in the order they came.
func (a *Adapter) worker() {
	defer a.wg.Done()
	for {
		select {
		case <-a.ctx.Done():
			return
		case f := <-a.work:
			f()
		}
	}
}

// later queues a command for the worker; the caller can ack at once.
func (a *Adapter) later(f func()) {
	select {
	case a.work <- f:
	case <-a.ctx.Done():
	}
}

// runSocket keeps a Socket Mode connection. slack-go reconnects on
// disconnect envelopes and dropped sockets; this loop also survives a
// failed reconnect.
func (a *Adapter) runSocket() {
	defer a.wg.Done()
	if !a.waitUp() {
		return
	}
	for backoff := time.Second; a.ctx.Err() == nil; backoff = min(backoff*2, time.Minute) {
		sm := socketmode.New(a.api)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-a.ctx.Done():
					return
				case ev, ok := <-sm.Events:
					if !ok {
						return
					}
					a.socketEvent(sm, ev)
				}
			}
		}()
		err := sm.RunContext(a.ctx)
		if a.ctx.Err() != nil {
			<-done
			return
		}
		a.log.Warn("slack: socket mode stopped, reconnecting", "err", err, "in", backoff)
		select {
		case <-a.ctx.Done():
		case <-time.After(backoff):
		}
	}
}

func (a *Adapter) socketEvent(sm *socketmode.Client, ev socketmode.Event) {
	switch ev.Type {
	case socketmode.EventTypeEventsAPI:
		sm.Ack(*ev.Request) // ack first: Slack redelivers what is not acked in time
		if e, ok := ev.Data.(slackevents.EventsAPIEvent); ok {
			id := eventID(ev.Request.Payload)
			a.later(func() { a.handleEvent(e, id) })
		}
	case socketmode.EventTypeSlashCommand:
		cmd, ok := ev.Data.(slackgo.SlashCommand)
		if !ok {
			sm.Ack(*ev.Request)
			return
		}
		if text, _ := a.handleSlash(cmd); text != "" {
			sm.Ack(*ev.Request, map[string]any{"response_type": "ephemeral", "text": clip(Escape(text), maxText)})
		} else {
			sm.Ack(*ev.Request) // a form opened, or nothing to say
		}
	case socketmode.EventTypeInteractive:
		cb, ok := ev.Data.(slackgo.InteractionCallback)
		if !ok {
			sm.Ack(*ev.Request)
			return
		}
		if r := a.interact(cb); r != nil {
			sm.Ack(*ev.Request, r)
		} else {
			sm.Ack(*ev.Request)
		}
	case socketmode.EventTypeConnectionError, socketmode.EventTypeInvalidAuth:
		a.log.Warn("slack: socket mode", "event", ev.Type, "data", fmt.Sprint(ev.Data))
	}
}

var eventIDRe = regexp.MustCompile(`"event_id"\s*:\s*"([^"]+)"`)

func eventID(payload []byte) string {
	if m := eventIDRe.FindSubmatch(payload); m != nil {
		return string(m[1])
	}
	return ""
}

// threadRef is what deployq keeps as a deploy's chat thread.
func threadRef(channel, thread string) string {
	if thread == "" {
		return "slack:" + channel
	}
	return "slack:" + channel + ":" + thread
}

func parseThreadRef(s string) (channel, thread string, ok bool) {
	rest, ok := strings.CutPrefix(s, "slack:")
	if !ok || rest == "" {
		return "", "", false
	}
	channel, thread, _ = strings.Cut(rest, ":")
	return channel, thread, true
}

// envChannel is where an environment's deploys are announced.
func (a *Adapter) envChannel(env string) string {
	if c := a.cfg.Channels[env]; c != "" {
		return c
	}
	return a.cfg.Channel
}

// SetLockNagAfter changes the reminder age of locks; call before Start.
func (a *Adapter) SetLockNagAfter(d time.Duration) { a.cfg.LockNagAfter = d }

// SetPeople gives the adapter the people of the config, who may be known
// in Slack by their user id or user name; call before Start.
func (a *Adapter) SetPeople(p *queue.People) { a.people = p }

// retry runs call, waiting out Slack's rate limits (429 Retry-After) as
// often as Slack asks, within ctx. Other errors are returned; one that
// says Slack does not answer marks it down (see Health).
func (a *Adapter) retry(ctx context.Context, call func() error) error {
	for {
		err := call()
		var rl *slackgo.RateLimitedError
		if !errors.As(err, &rl) {
			return a.checked(err)
		}
		wait := rl.RetryAfter
		if wait <= 0 {
			wait = time.Second
		}
		a.log.Warn("slack: rate limited", "retry_after", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}
