package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/deployq/deployq/queue"
	gh "github.com/google/go-github/v62/github"
)

// metaDeployment is the deploy meta key of its GitHub deployment id.
const metaDeployment = "github.deployment"

// statusOf is the one place deployq's states become GitHub's deployment
// status states.
var statusOf = map[queue.State]string{
	queue.StateWaiting:     "pending",
	queue.StateQueued:      "queued",
	queue.StateRunning:     "in_progress",
	queue.StateSucceeded:   "success",
	queue.StateFailed:      "failure",
	queue.StateCanceled:    "error",
	queue.StateInterrupted: "error",
	queue.StateSuperseded:  "inactive",
}

// report is one status to send, as kept in the outbox.
type report struct {
	Deploy      int64  `json:"deploy"`
	Repo        string `json:"repo"`
	Env         string `json:"env"`
	SHA         string `json:"sha"`
	User        string `json:"user"`
	State       string `json:"state"`
	Description string `json:"description"`
	LogURL      string `json:"log_url"`
	EnvURL      string `json:"environment_url,omitempty"`
	GitHubID    int64  `json:"github_id,omitempty"` // a deployment made on GitHub
}

// Reporter gives every deploy of an app with a repo a GitHub Deployment
// and its statuses. It is a queue.Mailer: each status goes into the
// store's outbox in the transaction of the change that owes it, and is
// sent from there by whichever server sharing the store takes it first,
// in order per deploy, retried with backoff while GitHub is down or rate
// limited, so no status is lost and no deploy waits for GitHub.
type Reporter struct {
	client  *Client
	svc     *queue.Service
	box     queue.Outbox
	baseURL string
	log     *slog.Logger

	wake chan struct{}
	done chan struct{}

	// MinBackoff is the first retry delay after a failure (default 1s).
	MinBackoff time.Duration
}

// outboxPrefix begins the outbox keys of the reporter's statuses.
const outboxPrefix = "github:"

// NewReporter returns a reporter; give it to the queue as a Notifier and
// call Start before the queue starts, so that no change is missed.
func NewReporter(client *Client, baseURL string, log *slog.Logger) *Reporter {
	if log == nil {
		log = slog.Default()
	}
	return &Reporter{client: client, baseURL: baseURL, log: log,
		wake: make(chan struct{}, 1), done: make(chan struct{}), MinBackoff: time.Second}
}

// Start sends what the outbox holds, until ctx ends.
func (r *Reporter) Start(ctx context.Context, svc *queue.Service) {
	r.svc, r.box = svc, svc.Outbox()
	go func() {
		defer close(r.done)
		r.run(ctx)
	}()
}

// Wait waits for the reporter to stop after its context ended; what it
// did not send stays in the outbox for the next start.
func (r *Reporter) Wait() { <-r.done }

// Letters implements queue.Mailer: the status d's new state owes.
func (r *Reporter) Letters(d *queue.Deploy) []queue.Letter {
	if r.svc == nil {
		return nil
	}
	var repo, envURL string
	if app, env, err := r.svc.Lookup(d.App, d.Env); err == nil {
		repo, envURL = app.Repo, env.URL
	}
	if repo == "" || d.Op != "" { // operations are not deployments
		return nil
	}
	desc := fmt.Sprintf("deployq #%d %s", d.ID, d.State)
	if d.Error != "" {
		desc += ": " + d.Error
	}
	if len(desc) > 140 {
		desc = desc[:137] + "..."
	}
	body, _ := json.Marshal(report{Deploy: d.ID, Repo: repo, Env: d.Env, SHA: d.SHA, User: d.User, State: statusOf[d.State],
		Description: desc, LogURL: fmt.Sprintf("%s/api/v1/deploys/%d/log", r.baseURL, d.ID), EnvURL: envURL,
		GitHubID: d.GitHubDeploymentID})
	return []queue.Letter{{Key: fmt.Sprintf("%s%d", outboxPrefix, d.ID), Body: string(body)}}
}

// DeployChanged implements queue.Notifier: the change's status is in the
// outbox; send it now.
func (r *Reporter) DeployChanged(*queue.Deploy) {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// LockChanged implements queue.Notifier.
func (r *Reporter) LockChanged(*queue.Lock, bool) {}

// outboxClaim is how long what OutboxDue hands out stays ours: a
// minute, as queue.Store says. claimSpare is the part of it kept to
// record how a send went before the claim ends.
const (
	outboxClaim = time.Minute
	claimSpare  = 10 * time.Second
)

func (r *Reporter) run(ctx context.Context) {
	for {
		// What OutboxDue hands out is claimed: the reporters of other
		// servers on the same database do not get it while we send it.
		now := time.Now()
		items, err := r.box.OutboxDue(ctx, outboxPrefix, now, 50)
		if err != nil && ctx.Err() == nil {
			r.log.Error("github: reading the outbox", "err", err)
		}
		r.deliverAll(ctx, now.Add(outboxClaim-claimSpare), items)
		if ctx.Err() != nil {
			return
		}
		wait := 30 * time.Second
		if next, ok, err := r.box.OutboxNext(ctx, outboxPrefix); err == nil && ok {
			wait = min(wait, max(time.Until(next), time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-time.After(wait):
		}
	}
}

// deliverAll sends items one by one while their claim lasts, up to until
// (short of its end): a send still going then is cut short and retried,
// and the items not sent by then come due again when the claim ends, to
// whichever server takes them first.
func (r *Reporter) deliverAll(ctx context.Context, until time.Time, items []queue.OutboxItem) {
	ctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	for _, it := range items {
		if ctx.Err() != nil {
			return
		}
		r.deliver(ctx, it)
	}
}

// deliver sends it and records how that went, even if ctx ended
// meanwhile: a status sent is done, one that failed gets its retry.
func (r *Reporter) deliver(ctx context.Context, it queue.OutboxItem) {
	record := context.WithoutCancel(ctx)
	var rep report
	if err := json.Unmarshal([]byte(it.Body), &rep); err != nil {
		r.box.OutboxDone(record, it.ID)
		return
	}
	err := r.send(ctx, rep)
	if err == nil {
		r.box.OutboxDone(record, it.ID)
		return
	}
	if retry, when := r.retryable(err, it.Attempts); retry {
		r.log.Warn("github: status not sent yet, will retry", "deploy", rep.Deploy, "state", rep.State, "at", when, "err", err)
		r.box.OutboxRetry(record, it.ID, when, err.Error())
		return
	}
	r.log.Error("github: status refused, given up", "deploy", rep.Deploy, "state", rep.State, "err", err)
	r.box.OutboxDone(record, it.ID)
}

// send creates the deployment if needed, then the status.
func (r *Reporter) send(ctx context.Context, rep report) error {
	owner, repo, err := splitRepo(rep.Repo)
	if err != nil {
		return err
	}
	id := rep.GitHubID
	if id == 0 {
		if v, err := r.svc.Meta(ctx, rep.Deploy, metaDeployment); err == nil && v != "" {
			id, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if id == 0 {
		req := &gh.DeploymentRequest{Ref: gh.String(rep.SHA), Environment: gh.String(rep.Env), AutoMerge: gh.Bool(false),
			RequiredContexts: &[]string{}, Description: gh.String(fmt.Sprintf("deployq #%d by %s", rep.Deploy, rep.User)),
			Payload: map[string]any{PayloadKey: rep.Deploy, "user": rep.User}}
		dep, _, err := r.client.gh.Repositories.CreateDeployment(ctx, owner, repo, req)
		if err != nil {
			return fmt.Errorf("creating the deployment: %w", err)
		}
		id = dep.GetID()
		if err := r.svc.SetMeta(context.WithoutCancel(ctx), rep.Deploy, metaDeployment, strconv.FormatInt(id, 10)); err != nil {
			return err
		}
	}
	_, _, err = r.client.gh.Repositories.CreateDeploymentStatus(ctx, owner, repo, id, &gh.DeploymentStatusRequest{
		State: gh.String(rep.State), LogURL: gh.String(rep.LogURL), Description: gh.String(rep.Description),
		Environment: gh.String(rep.Env), EnvironmentURL: optional(rep.EnvURL)})
	if err != nil {
		return fmt.Errorf("deployment %d status %s: %w", id, rep.State, err)
	}
	return nil
}

// retryable says whether err is worth another try, and when: rate limits
// say when themselves; server errors and network failures back off.
func (r *Reporter) retryable(err error, attempts int) (bool, time.Time) {
	backoff := r.MinBackoff << min(attempts, 8)
	backoff = min(backoff, 5*time.Minute)
	var rl *gh.RateLimitError
	var abuse *gh.AbuseRateLimitError
	var resp *gh.ErrorResponse
	switch {
	case errors.As(err, &rl):
		return true, rl.Rate.Reset.Time.Add(time.Second)
	case errors.As(err, &abuse):
		if d := abuse.GetRetryAfter(); d > 0 {
			return true, time.Now().Add(d)
		}
		return true, time.Now().Add(backoff)
	case errors.As(err, &resp):
		code := resp.Response.StatusCode
		if code == http.StatusTooManyRequests || code >= 500 {
			if s := resp.Response.Header.Get("Retry-After"); s != "" {
				if n, err := strconv.Atoi(s); err == nil {
					return true, time.Now().Add(time.Duration(n) * time.Second)
				}
			}
			return true, time.Now().Add(backoff)
		}
		return false, time.Time{} // a 4xx will not get better by itself
	}
	return true, time.Now().Add(backoff) // the network
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
