package github

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/deployq/deployq/queue"
	gh "github.com/google/go-github/v62/github"
)

// A deploy asked in deployq to an environment deployed by Actions jobs
// starts the environment's workflow (workflow_dispatch); the first
// request that a job of that environment makes while the deploy waits
// for one is the deploy's: it is let go at once.

// metaDispatched marks a deploy that started its workflow and waits for
// its job's request.
const metaDispatched = "actions.dispatched"

// dispatchWait bounds the wait for the job of a workflow deployq started.
const dispatchWait = 15 * time.Minute

// dispatch starts the workflow of jb's environment for jb's sha, and
// waits until its job's request is this deploy's (adopt).
func (a *Actions) dispatch(ctx context.Context, jb queue.Job, w io.Writer, wake <-chan struct{}) (job, error) {
	s, _ := jb.Settings.(*ActionsSettings)
	app, env, err := a.svc.Lookup(jb.App, jb.Env)
	switch {
	case err != nil:
		return job{}, err
	case s == nil || s.Workflow == "":
		return job{}, queue.Errorf(queue.EUnsupported, "%s is deployed by GitHub Actions jobs: run the workflow on GitHub", jb.Env)
	}
	ref := s.Ref
	if ref == "" {
		ref = app.DefaultRef
	}
	if err := a.svc.SetMeta(ctx, jb.DeployID, metaDispatched, "1"); err != nil {
		return job{}, err
	}
	fmt.Fprintf(w, "asking GitHub to run %s on %s of %s for %s\n", s.Workflow, ref, app.Repo, queue.ShortSHA(jb.SHA))
	if err := a.client.dispatch(ctx, app.Repo, s.Workflow, ref, map[string]any{"sha": jb.SHA, "deployq_id": strconv.FormatInt(jb.DeployID, 10)}); err != nil {
		return job{}, fmt.Errorf("GitHub did not start %s: %v", s.Workflow, err)
	}
	fmt.Fprintf(w, "waiting for its job to ask for the %s environment\n", gitHubEnv(env))
	give := time.NewTimer(dispatchWait)
	defer give.Stop()
	look := time.NewTicker(time.Second)
	defer look.Stop()
	for {
		if j, ok, err := a.jobOf(ctx, jb.DeployID); err == nil && ok {
			return j, nil
		}
		select {
		case <-ctx.Done():
			return job{}, ctx.Err()
		case <-give.C:
			return job{}, fmt.Errorf("no job of %s asked for the %s environment within %s", s.Workflow, gitHubEnv(env), dispatchWait)
		case <-wake:
		case <-look.C:
		}
	}
}

// adopt makes a job's request the deploy's of the lane that started its
// workflow and waits for it, if there is one: it is let go at once.
func (rc *Receiver) adopt(ctx context.Context, app *queue.App, env *queue.Environment, p *protectionRuleEvent, run int64, key string) (int64, bool, error) {
	running, err := rc.svc.Deploys(ctx, queue.DeployFilter{App: app.Name, Env: env.Name, States: []queue.State{queue.StateRunning}, Limit: -1})
	if err != nil {
		return 0, false, err
	}
	for _, d := range running {
		dispatched, err1 := rc.svc.Meta(ctx, d.ID, metaDispatched)
		has, err2 := rc.svc.Meta(ctx, d.ID, metaRun)
		if err := firstErr(err1, err2); err != nil {
			return 0, false, err
		}
		if dispatched != "1" || has != "" {
			continue
		}
		for k, v := range map[string]string{metaRepo: p.Repo.FullName, metaGHEnv: p.Environment, metaActionsDeployment: strconv.FormatInt(p.Deployment.ID, 10),
			queue.MetaLink: rc.client.runURL(p.Repo.FullName, run), metaRun: strconv.FormatInt(run, 10)} { // the run last: it says all is there
			if err := rc.svc.SetMeta(ctx, d.ID, k, v); err != nil {
				return 0, false, err
			}
		}
		if err := rc.actions.owe(ctx, answer{Deploy: d.ID, Do: "approve",
			Comment: fmt.Sprintf("deployq #%d: the run deployq started for %s may deploy to %s.", d.ID, d.App, d.Env)}); err != nil {
			return 0, false, err
		}
		if _, err := rc.svc.Once(ctx, key); err != nil {
			return 0, false, err
		}
		rc.actions.wake(d.ID)
		return d.ID, true, nil
	}
	return 0, false, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// dispatch starts a workflow on ref with inputs.
func (c *Client) dispatch(ctx context.Context, repoName, workflow, ref string, inputs map[string]any) error {
	owner, repo, err := splitRepo(repoName)
	if err != nil {
		return err
	}
	_, err = c.gh.Actions.CreateWorkflowDispatchEventByFileName(ctx, owner, repo, workflow, gh.CreateWorkflowDispatchEventRequest{Ref: ref, Inputs: inputs})
	return err
}
