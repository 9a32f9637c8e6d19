package github

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
	gh "github.com/google/go-github/v62/github"
	"github.com/robfig/cron/v3"
)

// Poller is the webhook's stand-in behind a firewall: every interval it
// reads the head of each tracked branch and auto-deploys a new one where
// an environment asks for it (push or merge: polling cannot tell them
// apart), runs deployments made on GitHub, and rechecks deploys waiting
// for checks.
type Poller struct {
	starter
	interval time.Duration
	wg       sync.WaitGroup // the polls under way, and the schedule
}

// NewPoller returns a poller that names the creators of deployments
// through people (nil: nobody is mapped).
func NewPoller(client *Client, svc *queue.Service, people *queue.People, interval time.Duration, log *slog.Logger) *Poller {
	if log == nil {
		log = slog.Default()
	}
	if interval <= 0 {
		interval = time.Minute
	}
	return &Poller{starter: starter{svc: svc, people: people, client: client, log: log}, interval: interval}
}

// Start polls now and then every interval, until ctx ends; Wait waits
// for the last poll.
func (p *Poller) Start(ctx context.Context) {
	c := cron.New()
	c.Schedule(cron.Every(p.interval), cron.FuncJob(func() { p.Poll(ctx) }))
	c.Start()
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		p.Poll(ctx)
	}()
	go func() {
		defer p.wg.Done()
		<-ctx.Done()
		<-c.Stop().Done() // the scheduled poll under way has returned
	}()
}

// Wait returns once ctx given to Start has ended and no poll runs.
func (p *Poller) Wait() { p.wg.Wait() }

type tracked struct{ repo, branch string }

// pollUser is who auto-deploys a head the poller found: polling does not
// say who pushed.
const pollUser = "github"

// Poll reads every tracked branch once. The first head a lane sees of its
// branch is recorded, not deployed; each later head is deployed once,
// even across restarts, and never again once the webhook or an earlier
// poll deployed it.
func (p *Poller) Poll(ctx context.Context) {
	seen := map[tracked]bool{}
	var branches []tracked
	for _, a := range p.svc.Apps() {
		if a.Repo == "" {
			continue
		}
		for _, e := range a.Environments {
			if len(e.AutoDeploy.On) == 0 {
				continue
			}
			b := e.AutoDeploy.Branch
			if b == "" {
				b = a.DefaultRef
			}
			if t := (tracked{a.Repo, b}); !seen[t] {
				seen[t] = true
				branches = append(branches, t)
			}
		}
	}
	sort.Slice(branches, func(i, j int) bool { return branches[i].repo+branches[i].branch < branches[j].repo+branches[j].branch })
	for _, t := range branches {
		if ctx.Err() != nil {
			return
		}
		sha, err := p.client.branchHead(ctx, t.repo, t.branch)
		if err != nil {
			p.log.Warn("github: polling a branch", "repo", t.repo, "branch", t.branch, "err", err)
			continue
		}
		head := push{repo: t.repo, branch: t.branch, sha: sha, events: []string{"push", "merge"}, user: pollUser, head: true}
		if err := p.firstHeads(ctx, head); err != nil {
			p.log.Error("github: recording the first head of a branch", "repo", t.repo, "branch", t.branch, "err", err)
			continue
		}
		res := &Result{}
		if err := p.auto(ctx, head, res); err != nil {
			p.log.Error("github: a new head not deployed; next poll", "repo", t.repo, "branch", t.branch, "sha", sha, "err", err)
		}
		if len(res.Deploys)+len(res.Refused) > 0 {
			p.log.Info("github: new head", "repo", t.repo, "branch", t.branch, "sha", queue.ShortSHA(sha), "deploys", res.Deploys, "ignored", res.Ignored)
		}
	}
	p.pollDeployments(ctx)
	if err := p.svc.Recheck(ctx, ""); err != nil && ctx.Err() == nil {
		p.log.Error("github: rechecking waiting deploys", "err", err)
	}
}

// firstHeads records h as auto-deployed already in the lanes that see
// their branch for the first time: what was there before deployq looked
// is not deployed.
func (p *Poller) firstHeads(ctx context.Context, h push) error {
	for _, l := range lanes(p.apps(h.repo), h.events, h.branch) {
		init := fmt.Sprintf("github-poll-init:%s:%s", l, h.branch)
		seen, err := p.svc.Seen(ctx, init)
		if err != nil {
			return err
		}
		if seen {
			continue
		}
		// The head first, then the lane: a crash between them records the
		// head again at the next poll, never deploys it.
		if _, err := p.svc.Once(ctx, autoKey(l, h.branch, h.sha)); err != nil {
			return err
		}
		if _, err := p.svc.Once(ctx, init); err != nil {
			return err
		}
	}
	return nil
}

// branchHead returns the sha at the head of a branch.
func (c *Client) branchHead(ctx context.Context, repoName, branch string) (string, error) {
	owner, repo, err := splitRepo(repoName)
	if err != nil {
		return "", err
	}
	ref, _, err := c.gh.Git.GetRef(ctx, owner, repo, "heads/"+branch)
	if err != nil {
		return "", err
	}
	sha := ref.GetObject().GetSHA()
	if !queue.IsFullSHA(sha) {
		return "", fmt.Errorf("%s has no commit at its head", branch)
	}
	return sha, nil
}

// pollDeployments runs deployments made on GitHub since the first poll;
// the ones there at the first poll are recorded, not run.
func (p *Poller) pollDeployments(ctx context.Context) {
	repos := map[string]bool{}
	for _, a := range p.svc.Apps() {
		if a.Repo != "" {
			repos[a.Repo] = true
		}
	}
	names := make([]string, 0, len(repos))
	for r := range repos {
		names = append(names, r)
	}
	sort.Strings(names)
	for _, repoName := range names {
		owner, repo, err := splitRepo(repoName)
		if err != nil {
			continue
		}
		list, _, err := p.client.gh.Repositories.ListDeployments(ctx, owner, repo, &gh.DeploymentsListOptions{ListOptions: gh.ListOptions{PerPage: 30}})
		if err != nil {
			p.log.Warn("github: polling deployments", "repo", repoName, "err", err)
			continue
		}
		if err := p.firstDeployments(ctx, repoName, list); err != nil {
			p.log.Error("github: recording the deployments there before", "repo", repoName, "err", err)
			continue
		}
		for i := len(list) - 1; i >= 0; i-- { // oldest first
			dep := fromAPI(list[i])
			if dep.ours() {
				continue
			}
			res := &Result{}
			err := p.runDeployment(ctx, repoName, dep, nil, res)
			switch {
			case queue.ErrorCode(err) == queue.EInvalid: // a refusal of the deployment itself: final
				p.log.Warn("github: polled deployment refused", "repo", repoName, "deployment", dep.ID, "err", queue.ErrorMessage(err))
				if _, err := p.svc.Once(ctx, deploymentKey(dep.ID)); err != nil {
					p.log.Error("github: recording a refused deployment", "deployment", dep.ID, "err", err)
				}
			case err != nil:
				p.log.Error("github: a polled deployment not run; next poll", "repo", repoName, "deployment", dep.ID, "err", err)
			case !res.Duplicate:
				p.log.Info("github: polled deployment", "repo", repoName, "deployment", dep.ID, "deploys", res.Deploys, "ignored", res.Ignored)
			}
		}
	}
}

// firstDeployments records the deployments listed at the first poll of a
// repository as run: they were made before deployq looked.
func (p *Poller) firstDeployments(ctx context.Context, repoName string, list []*gh.Deployment) error {
	init := "github-poll-deployments-init:" + repoName
	if seen, err := p.svc.Seen(ctx, init); err != nil || seen {
		return err
	}
	for _, dep := range list {
		if _, err := p.svc.Once(ctx, deploymentKey(dep.GetID())); err != nil {
			return err
		}
	}
	_, err := p.svc.Once(ctx, init)
	return err
}

// fromAPI is a deployment as the API lists it.
func fromAPI(d *gh.Deployment) deployment {
	return deployment{ID: d.GetID(), SHA: d.GetSHA(), Ref: d.GetRef(), Environment: d.GetEnvironment(),
		Payload: d.Payload, Creator: account{Login: d.GetCreator().GetLogin()}}
}
