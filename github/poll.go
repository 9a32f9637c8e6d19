package github

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
	gh "github.com/google/go-github/v62/github"
	"github.com/robfig/cron/v3"
)

// Poller is the webhook's stand-in behind a firewall: every interval it
// reads the head of each tracked branch and auto-deploys a new one where
// an environment asks for it (push or merge: polling cannot tell them
// apart), and rechecks deploys waiting for checks.
type Poller struct {
	client   *Client
	svc      *queue.Service
	interval time.Duration
	log      *slog.Logger
	wg       sync.WaitGroup // the polls under way, and the schedule
}

// NewPoller returns a poller.
func NewPoller(client *Client, svc *queue.Service, interval time.Duration, log *slog.Logger) *Poller {
	if log == nil {
		log = slog.Default()
	}
	if interval <= 0 {
		interval = time.Minute
	}
	return &Poller{client: client, svc: svc, interval: interval, log: log}
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

// Poll reads every tracked branch once. The first head it sees of a
// branch is recorded, not deployed; each later head is deployed once, even
// across restarts.
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
		first, err := p.svc.Once(ctx, fmt.Sprintf("github-poll-init:%s:%s", t.repo, t.branch))
		if err != nil {
			continue
		}
		isNew, err := p.svc.Once(ctx, fmt.Sprintf("github-poll:%s:%s:%s", t.repo, t.branch, sha))
		if err != nil || first || !isNew {
			continue
		}
		res := &Result{}
		rc := &Receiver{svc: p.svc, log: p.log}
		rc.auto(ctx, t.repo, []string{"push", "merge"}, t.branch, sha, "github", "", res)
		p.log.Info("github: new head", "repo", t.repo, "branch", t.branch, "sha", queue.ShortSHA(sha), "deploys", res.Deploys, "ignored", res.Ignored)
	}
	p.pollDeployments(ctx)
	if err := p.svc.Recheck(ctx, ""); err != nil && ctx.Err() == nil {
		p.log.Error("github: rechecking waiting deploys", "err", err)
	}
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
	rc := &Receiver{svc: p.svc, log: p.log}
	for _, repoName := range names {
		owner, repo, err := splitRepo(repoName)
		if err != nil {
			continue
		}
		deps, _, err := p.client.gh.Repositories.ListDeployments(ctx, owner, repo, &gh.DeploymentsListOptions{ListOptions: gh.ListOptions{PerPage: 30}})
		if err != nil {
			p.log.Warn("github: polling deployments", "repo", repoName, "err", err)
			continue
		}
		first, err := p.svc.Once(ctx, "github-poll-deployments-init:"+repoName)
		if err != nil {
			continue
		}
		for i := len(deps) - 1; i >= 0; i-- { // oldest first
			dep := deps[i]
			if first {
				p.svc.Once(ctx, fmt.Sprintf("github-deployment:%d", dep.GetID()))
				continue
			}
			var payload map[string]any
			json.Unmarshal(dep.Payload, &payload)
			if _, ours := payload[PayloadKey]; ours {
				continue
			}
			res := &Result{}
			rc.runDeployment(ctx, repoName, dep, res)
			if len(res.Deploys) > 0 || !strings.HasSuffix(res.Ignored, "already run") {
				p.log.Info("github: polled deployment", "repo", repoName, "deployment", dep.GetID(), "deploys", res.Deploys, "ignored", res.Ignored)
			}
		}
	}
}
