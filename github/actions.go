package github

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deployq/deployq/outbox"
	"github.com/deployq/deployq/queue"
)

// Actions gates GitHub Actions jobs that deploy to an environment
// deployq knows, as a deployment protection rule of that environment on
// GitHub: each job's request becomes a deploy (source actions) that goes
// through the rules and the lane like any other. Its answers go through
// the outbox, written with the change that owes them: approved when the
// deploy starts, rejected (with why) when it ends without starting, and
// the run canceled when deployq ends a deploy whose job still runs. Its
// runner (kind "actions") keeps the lane busy until the job ends.
type Actions struct {
	client  *Client
	svc     *queue.Service
	log     *slog.Logger
	courier *outbox.Courier
	done    chan struct{}

	mu      sync.Mutex
	runners map[int64]chan struct{} // deploys whose runner runs here -> its wake-up

	// Poll is how often a runner asks GitHub how the job goes, for when
	// no webhook tells (default 15s).
	Poll time.Duration
}

// Meta keys of a deploy asked by an Actions job.
const (
	metaRun     = "actions.run"         // the workflow run's id
	metaRepo    = "actions.repo"        // owner/name, as the request named it
	metaGHEnv   = "actions.environment" // the environment's name on GitHub
	metaEnded   = "actions.ended"       // how the job ended: "success", "failure: ...", once known
	metaRefused = "actions.refused"     // why GitHub refused an answer
)

// answersPrefix begins the outbox keys of the answers to jobs.
const answersPrefix = "actions:"

// NewActions returns the gate; give it to the queue as a Notifier (it is
// a Mailer) and as the runner of kind "actions", and call Start before
// the queue starts.
func NewActions(client *Client, log *slog.Logger) *Actions {
	if log == nil {
		log = slog.Default()
	}
	return &Actions{client: client, log: log, courier: newCourier(answersPrefix, log), done: make(chan struct{}),
		runners: map[int64]chan struct{}{}, Poll: 15 * time.Second}
}

// Start sends the answers the outbox holds, until ctx ends.
func (a *Actions) Start(ctx context.Context, svc *queue.Service) {
	a.svc = svc
	a.courier.Box, a.courier.Send = svc.Outbox(), a.deliver
	go func() {
		defer close(a.done)
		a.courier.Run(ctx)
	}()
}

// Wait waits for the gate to stop after its context ended.
func (a *Actions) Wait() { <-a.done }

// answer is what a job is owed, as kept in the outbox.
type answer struct {
	Deploy  int64  `json:"deploy"`
	Do      string `json:"do"` // approve, reject, cancel
	Comment string `json:"comment,omitempty"`
}

// Letters implements queue.Mailer: a deploy asked by a job owes it an
// approval when it starts, a rejection when it ends without starting,
// and the run's cancel when it ends otherwise than by the job's end.
func (a *Actions) Letters(d *queue.Deploy) []queue.Letter {
	if d.Source != queue.SourceActions {
		return nil
	}
	var ans answer
	switch {
	case d.State == queue.StateRunning:
		ans = answer{Deploy: d.ID, Do: "approve",
			Comment: fmt.Sprintf("deployq #%d: %s may deploy to %s now (its turn in the queue).", d.ID, d.App, d.Env)}
	case d.State.Terminal() && d.StartedAt.IsZero():
		why := d.Error
		if why == "" {
			why = string(d.State)
		}
		ans = answer{Deploy: d.ID, Do: "reject", Comment: clip(fmt.Sprintf("deployq #%d: %s", d.ID, why), 1000)}
	case d.State.Terminal() && d.State != queue.StateSucceeded:
		ans = answer{Deploy: d.ID, Do: "cancel"}
	default:
		return nil
	}
	body, _ := json.Marshal(ans)
	return []queue.Letter{{Key: answersPrefix + strconv.FormatInt(d.ID, 10), Body: string(body)}}
}

// owe puts an answer in the outbox outside a change of its deploy (a
// run adopted by the deploy that started it), and sends it now.
func (a *Actions) owe(ctx context.Context, ans answer) error {
	body, _ := json.Marshal(ans)
	if err := a.svc.Outbox().OutboxAdd(ctx, answersPrefix+strconv.FormatInt(ans.Deploy, 10), string(body)); err != nil {
		return err
	}
	a.courier.Poke()
	return nil
}

// DeployChanged implements queue.Notifier: an answer may be owed.
func (a *Actions) DeployChanged(d *queue.Deploy) {
	if d.Source == queue.SourceActions {
		a.courier.Poke()
	}
}

// LockChanged implements queue.Notifier.
func (a *Actions) LockChanged(*queue.Lock, bool) {}

// job is what deployq keeps of the job a deploy answers.
type job struct {
	repo  string
	run   int64
	env   string // on GitHub
	url   string
	ended string
}

// jobOf reads what deployq keeps of the job of deploy id; ok is false
// for a deploy no job asked for.
func (a *Actions) jobOf(ctx context.Context, id int64) (j job, ok bool, err error) {
	get := func(key string) string {
		if err != nil {
			return ""
		}
		var v string
		v, err = a.svc.Meta(ctx, id, key)
		return v
	}
	run := get(metaRun)
	j = job{repo: get(metaRepo), env: get(metaGHEnv), url: get(queue.MetaLink), ended: get(metaEnded)}
	if err != nil || run == "" {
		return j, false, err
	}
	j.run, err = strconv.ParseInt(run, 10, 64)
	return j, err == nil, err
}

// deliver sends an answer the outbox holds.
func (a *Actions) deliver(ctx context.Context, it queue.OutboxItem) error {
	var ans answer
	if err := json.Unmarshal([]byte(it.Body), &ans); err != nil {
		return fmt.Errorf("%w: %v", errGiveUp, err)
	}
	j, ok, err := a.jobOf(ctx, ans.Deploy)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("%w: deploy #%d names no Actions run", errGiveUp, ans.Deploy)
	}
	switch ans.Do {
	case "cancel":
		if j.ended != "" {
			return nil // the job ended by itself
		}
		err = a.client.cancelRun(ctx, j.repo, j.run)
		if code := httpStatus(err); code == http.StatusConflict { // it ended meanwhile
			return nil
		}
	default:
		state := map[string]string{"approve": "approved", "reject": "rejected"}[ans.Do]
		err = a.client.reviewRun(ctx, j.repo, j.run, j.env, state, ans.Comment)
		if code := httpStatus(err); code >= 400 && code < 500 && code != http.StatusTooManyRequests {
			// GitHub will not take it (the run was canceled or re-run):
			// the deploy's runner hears of it and ends.
			a.refused(ctx, ans.Deploy, fmt.Sprintf("GitHub refused the %s of run %d: %v", state, j.run, err))
			return fmt.Errorf("%w: %v", errGiveUp, err)
		}
	}
	if err == nil {
		a.log.Info("github: answered an Actions job", "deploy", ans.Deploy, "run", j.run, "answer", ans.Do)
	}
	return err
}

// refused keeps why GitHub refused an answer, and wakes the deploy's
// runner if it runs here (another server's reads it on its next look).
func (a *Actions) refused(ctx context.Context, id int64, why string) {
	if err := a.svc.SetMeta(context.WithoutCancel(ctx), id, metaRefused, clip(why, 500)); err != nil {
		a.log.Error("github: keeping why an answer was refused", "deploy", id, "err", err)
	}
	a.wake(id)
}

// wake wakes the runner of deploy id, if it runs here.
func (a *Actions) wake(id int64) {
	a.mu.Lock()
	ch := a.runners[id]
	a.mu.Unlock()
	if ch != nil {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// clip cuts s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// webURL is GitHub's web address for an API base: api.github.com is
// github.com; an Enterprise server's /api/v3/ is its root.
func webURL(api string) string {
	if strings.Contains(api, "://api.github.com") {
		return "https://github.com/"
	}
	return strings.TrimSuffix(strings.TrimSuffix(api, "/"), "/api/v3") + "/"
}
