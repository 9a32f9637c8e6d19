package github

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/deployq/deployq/outbox"
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
	queue.StateVerifying:   "in_progress",
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
	baseURL string
	log     *slog.Logger

	courier *outbox.Courier
	done    chan struct{}

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
	return &Reporter{client: client, baseURL: baseURL, log: log, courier: newCourier(outboxPrefix, log),
		done: make(chan struct{}), MinBackoff: time.Second}
}

// Start sends what the outbox holds, until ctx ends.
func (r *Reporter) Start(ctx context.Context, svc *queue.Service) {
	r.svc = svc
	r.courier.Box, r.courier.Send, r.courier.MinBackoff = svc.Outbox(), r.deliver, r.MinBackoff
	go func() {
		defer close(r.done)
		r.courier.Run(ctx)
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
	if app, env, err := r.svc.Lookup(d.App, d.Env); err == nil && env.Runner != ActionsRunner { // Actions reports on its own deployments
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
func (r *Reporter) DeployChanged(*queue.Deploy) { r.courier.Poke() }

// LockChanged implements queue.Notifier.
func (r *Reporter) LockChanged(*queue.Lock, bool) {}

// deliver sends the status an outbox message holds.
func (r *Reporter) deliver(ctx context.Context, it queue.OutboxItem) error {
	var rep report
	if err := json.Unmarshal([]byte(it.Body), &rep); err != nil {
		return fmt.Errorf("%w: %v", errGiveUp, err)
	}
	return r.send(ctx, rep)
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

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
