package github

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
)

// The deliveries about Actions jobs deployq gates: a job's request to
// deploy, and the news of its end.

type protectionRuleEvent struct {
	Action      string     `json:"action"`
	Environment string     `json:"environment"`
	CallbackURL string     `json:"deployment_callback_url"`
	Deployment  deployment `json:"deployment"`
	Repo        repository `json:"repository"`
	Sender      account    `json:"sender"`
}

type workflowRunEvent struct {
	Action      string `json:"action"`
	WorkflowRun struct {
		ID         int64  `json:"id"`
		Status     string `json:"status"`
		Conclusion string `json:"conclusion"`
	} `json:"workflow_run"`
	Repo repository `json:"repository"`
}

type workflowJobEvent struct {
	Action      string `json:"action"`
	WorkflowJob struct {
		ID         int64  `json:"id"`
		RunID      int64  `json:"run_id"`
		Status     string `json:"status"`
		Conclusion string `json:"conclusion"`
	} `json:"workflow_job"`
	Deployment *struct {
		ID int64 `json:"id"`
	} `json:"deployment"` // on a job that waits for an environment
	Repo repository `json:"repository"`
}

type deploymentStatusEvent struct {
	DeploymentStatus struct {
		State string `json:"state"`
	} `json:"deployment_status"`
	Deployment struct {
		ID int64 `json:"id"`
	} `json:"deployment"`
	Repo repository `json:"repository"`
}

// metaJob is the meta key of the id of the job that deploys (the one the
// environment holds), once a delivery named it; metaActionsDeployment, of the
// deployment GitHub made for it.
const (
	metaJob               = "actions.job"
	metaActionsDeployment = "actions.deployment"
)

// actionsKey is the once-key of a job's request: one per deployment
// GitHub made for it (a re-run makes another).
func actionsKey(deployment int64) string { return fmt.Sprintf("github-actions:%d", deployment) }

// rejectTimeout bounds the answer to a request deployq cannot record.
const rejectTimeout = 10 * time.Second

// protectionRule records a job's request to deploy as a deploy of
// source actions, once per request.
func (rc *Receiver) protectionRule(ctx context.Context, p *protectionRuleEvent, res *Result) error {
	if p.Action != "requested" {
		res.Ignored = "deployment protection rule " + p.Action
		return nil
	}
	if rc.actions == nil {
		res.Ignored = "deployq gates no Actions jobs: no environment has the actions runner, or the github section gives no API"
		return nil
	}
	run, err := rc.client.callbackRun(p.CallbackURL, p.Repo.FullName)
	switch {
	case err != nil:
		return queue.Errorf(queue.EInvalid, "a deployment protection rule request: %v", err)
	case p.Deployment.ID <= 0:
		return queue.Errorf(queue.EInvalid, "a deployment protection rule request names no deployment")
	case !queue.IsFullSHA(p.Deployment.SHA):
		return queue.Errorf(queue.EInvalid, "a deployment protection rule request names no sha")
	}
	key := actionsKey(p.Deployment.ID)
	if seen, err := rc.svc.Seen(ctx, key); err != nil || seen {
		res.Duplicate = seen
		return err
	}
	app, env := rc.gated(p.Repo.FullName, p.Environment)
	if env == nil {
		why := fmt.Sprintf("deployq has no environment of %s that GitHub calls %q (runner: actions)", p.Repo.FullName, p.Environment)
		rc.reject(ctx, p.Repo.FullName, run, p.Environment, why)
		res.Ignored = why
		return nil
	}
	if id, ok, err := rc.adopt(ctx, app, env, p, run, key); err != nil || ok {
		if ok {
			res.Deploys = append(res.Deploys, id)
		}
		return err
	}
	user, err := who(rc.people, "workflow's actor", []string{p.Deployment.Creator.Login, p.Sender.Login}, "")
	if err != nil {
		return err
	}
	ref := p.Deployment.Ref
	if !queue.ValidRef(ref) {
		ref = p.Deployment.SHA
	}
	d, err := rc.svc.Submit(queue.WithOnce(ctx, key), queue.Request{App: app.Name, Env: env.Name, Ref: ref, SHA: p.Deployment.SHA,
		User: user, Source: queue.SourceActions, GitHubDeploymentID: p.Deployment.ID,
		Meta: map[string]string{metaRun: strconv.FormatInt(run, 10), queue.MetaLink: rc.client.runURL(p.Repo.FullName, run),
			metaRepo: p.Repo.FullName, metaGHEnv: p.Environment, metaActionsDeployment: strconv.FormatInt(p.Deployment.ID, 10)}})
	switch {
	case err == nil:
		res.Deploys = append(res.Deploys, d.ID)
	case queue.ErrorCode(err) == queue.EDuplicate:
		res.Duplicate = true
	case retryable(err):
		rc.log.Error("github: cannot queue an Actions job", "run", run, "err", err)
		return err
	case d != nil: // refused, and recorded: its rejection is in the outbox
		res.Refused = append(res.Refused, d.ID)
		res.Ignored = queue.ErrorMessage(err)
	default: // refused before it could be recorded
		res.Ignored = queue.ErrorMessage(err)
		rc.reject(ctx, p.Repo.FullName, run, p.Environment, queue.ErrorMessage(err))
		_, err := rc.svc.Once(ctx, key)
		return err
	}
	return nil
}

// gated returns the app of repo and its environment that GitHub calls
// ghEnv, whose deploys are Actions jobs; nil when there is none.
func (rc *Receiver) gated(repo, ghEnv string) (*queue.App, *queue.Environment) {
	for _, a := range rc.apps(repo) {
		for _, e := range a.Environments {
			if e.Runner == ActionsRunner && strings.EqualFold(gitHubEnv(e), ghEnv) {
				return a, e
			}
		}
	}
	return nil, nil
}

// ActionsRunner is the runner kind of environments deployed by Actions
// jobs.
const ActionsRunner = "actions"

// reject answers a request deployq could not record: at once, once.
func (rc *Receiver) reject(ctx context.Context, repo string, run int64, env, why string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rejectTimeout)
	defer cancel()
	if err := rc.client.reviewRun(ctx, repo, run, env, "rejected", clip("deployq: "+why, 1000)); err != nil {
		rc.log.Error("github: rejecting an Actions job", "repo", repo, "run", run, "err", err)
	}
}

// gatedRun is what deployq keeps of the run and job a running deploy
// waits for.
type gatedRun struct{ run, deployment, job string }

// running calls fn with each deploy in one of states of repo's
// environments deployed by Actions jobs, and what it waits for.
func (rc *Receiver) running(ctx context.Context, repo string, states []queue.State, fn func(d *queue.Deploy, g gatedRun) error) error {
	for _, a := range rc.apps(repo) {
		ds, err := rc.svc.Deploys(ctx, queue.DeployFilter{App: a.Name, States: states, Limit: -1})
		if err != nil {
			return err
		}
		for _, d := range ds {
			if e := a.Env(d.Env); e == nil || e.Runner != ActionsRunner {
				continue
			}
			var g gatedRun
			var errs [3]error
			g.run, errs[0] = rc.svc.Meta(ctx, d.ID, metaRun)
			g.deployment, errs[1] = rc.svc.Meta(ctx, d.ID, metaActionsDeployment)
			g.job, errs[2] = rc.svc.Meta(ctx, d.ID, metaJob)
			if err := firstErr(errs[:]...); err != nil {
				return err
			}
			if err := fn(d, g); err != nil {
				return err
			}
		}
	}
	return nil
}

// jobNews keeps how a gated job ended, from whichever delivery says it
// first: its deployment's status, its own end, or its run's.
func (rc *Receiver) jobNews(ctx context.Context, repo string, match func(g gatedRun) bool, how string, res *Result) error {
	if rc.actions == nil {
		res.Ignored = "deployq gates no Actions jobs"
		return nil
	}
	err := rc.running(ctx, repo, []queue.State{queue.StateRunning}, func(d *queue.Deploy, g gatedRun) error {
		if g.run != "" && match(g) {
			rc.actions.ended(ctx, d.ID, how)
			res.Deploys = append(res.Deploys, d.ID)
		}
		return nil
	})
	if err == nil && len(res.Deploys) == 0 {
		res.Ignored = "no deploy waits for this"
	}
	return err
}

// workflowRun: a run that completed ends the deploys of its jobs.
func (rc *Receiver) workflowRun(ctx context.Context, p *workflowRunEvent, res *Result) error {
	if p.Action != "completed" || p.WorkflowRun.ID <= 0 {
		res.Ignored = "workflow run " + p.Action
		return nil
	}
	run := strconv.FormatInt(p.WorkflowRun.ID, 10)
	return rc.jobNews(ctx, p.Repo.FullName, func(g gatedRun) bool { return g.run == run }, p.WorkflowRun.Conclusion, res)
}

// workflowJob: a job waiting for a gated environment is the one that
// deploys (kept); its end ends the deploy.
func (rc *Receiver) workflowJob(ctx context.Context, p *workflowJobEvent, res *Result) error {
	j := p.WorkflowJob
	id := strconv.FormatInt(j.ID, 10)
	if p.Deployment != nil && p.Deployment.ID > 0 && j.ID > 0 {
		if err := rc.keepJob(ctx, p.Repo.FullName, p.Deployment.ID, id); err != nil {
			return err
		}
	}
	if p.Action != "completed" || j.ID <= 0 {
		if res.Ignored == "" {
			res.Ignored = "workflow job " + p.Action
		}
		return nil
	}
	return rc.jobNews(ctx, p.Repo.FullName, func(g gatedRun) bool { return g.job == id }, j.Conclusion, res)
}

// keepJob notes which job deploys for the deploy of a GitHub deployment.
func (rc *Receiver) keepJob(ctx context.Context, repo string, deployment int64, job string) error {
	dep := strconv.FormatInt(deployment, 10)
	states := []queue.State{queue.StateWaiting, queue.StateQueued, queue.StateRunning} // the job waits for deployq's answer
	return rc.running(ctx, repo, states, func(d *queue.Deploy, g gatedRun) error {
		if g.deployment == dep {
			return rc.svc.SetMeta(ctx, d.ID, metaJob, job)
		}
		return nil
	})
}

// deploymentStatus: the status Actions gives its deployment says the
// job's end.
func (rc *Receiver) deploymentStatus(ctx context.Context, p *deploymentStatusEvent, res *Result) error {
	state := p.DeploymentStatus.State
	switch state {
	case "success", "failure", "error", "inactive":
	default:
		res.Ignored = "deployment status " + state
		return nil
	}
	dep := strconv.FormatInt(p.Deployment.ID, 10)
	return rc.jobNews(ctx, p.Repo.FullName, func(g gatedRun) bool { return p.Deployment.ID > 0 && g.deployment == dep }, state, res)
}
