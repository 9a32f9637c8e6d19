package github

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
	gh "github.com/google/go-github/v62/github"
)

// starter starts what GitHub asks for, for the receiver and the poller
// alike: auto-deploys of pushed shas and deployments made on GitHub, each
// once. What must happen once has a key recorded in the transaction of
// the deploy it makes (queue.WithOnce): a crash in between loses nothing,
// and a delivery sent again finds the key and does nothing twice.
type starter struct {
	svc    *queue.Service
	people *queue.People
	client *Client // GitHub's API; nil without access
	log    *slog.Logger
}

// push is a sha to auto-deploy from a branch.
type push struct {
	repo, branch, sha string
	events            []string // push, merge: which auto_deploy.on it answers
	user, email       string   // who pushed or merged (email: "" if unknown)
	head              bool     // sha is the branch's head as GitHub said just now
}

// lane is an environment of an app.
type lane struct {
	app *queue.App
	env *queue.Environment
}

func (l lane) String() string { return l.app.Name + "/" + l.env.Name }

// autoKey is the once-key of the auto-deploy of sha from branch to a lane,
// recorded with that deploy (or with its refusal). It holds whoever sent
// the push: a redelivery, the same push replayed under another delivery
// id, a merge and its push, a poll. A sha auto-deployed from a branch to a
// lane is never auto-deployed there again.
func autoKey(l lane, branch, sha string) string {
	return fmt.Sprintf("github-auto:%s:%s:%s", l, branch, sha)
}

// deploymentKey is the once-key of a GitHub deployment.
func deploymentKey(id int64) string { return fmt.Sprintf("github-deployment:%d", id) }

// compareTimeout bounds the question to GitHub whether a push is new.
const compareTimeout = 5 * time.Second

// apps returns the apps of a repository (owner/name, any case).
func (s *starter) apps(repo string) []*queue.App {
	var out []*queue.App
	for _, a := range s.svc.Apps() {
		if a.Repo != "" && strings.EqualFold(a.Repo, repo) {
			out = append(out, a)
		}
	}
	return out
}

// lanes returns the environments of apps that auto-deploy branch on any
// of events.
func lanes(apps []*queue.App, events []string, branch string) []lane {
	var out []lane
	for _, a := range apps {
		for _, e := range a.Environments {
			for _, event := range events {
				if e.AutoDeploy.Wants(event, branch, a.DefaultRef) {
					out = append(out, lane{a, e})
					break
				}
			}
		}
	}
	return out
}

// retryable reports an error after which the delivery should be sent
// again: nothing was refused, something could not be stored.
func retryable(err error) bool {
	c := queue.ErrorCode(err)
	return c == queue.EInternal || c == queue.EUnavailable
}

// auto queues an auto-deploy of p.sha in every lane that asks for one,
// once per lane. A refusal is recorded as a failed deploy and answered;
// the error returned is one to retry the delivery for (what the other
// lanes did stays done).
func (s *starter) auto(ctx context.Context, p push, res *Result) error {
	apps := s.apps(p.repo)
	if len(apps) == 0 {
		res.Ignored = "no app deploys " + p.repo
		return nil
	}
	all := lanes(apps, p.events, p.branch)
	if len(all) == 0 {
		res.Ignored = fmt.Sprintf("no environment of %s auto-deploys on %s to %s", p.repo, strings.Join(p.events, " or "), p.branch)
		return nil
	}
	done := fmt.Sprintf("%s was auto-deployed from %s already", queue.ShortSHA(p.sha), p.branch)
	todo, seen, err := s.undone(ctx, all, p)
	if err != nil {
		return err
	}
	for _, l := range seen {
		res.ignore(l, done)
	}
	if len(todo) == 0 {
		res.Duplicate = true
		return nil
	}
	if why := s.behind(ctx, p); why != "" {
		s.log.Warn("github: an old push not deployed", "repo", p.repo, "branch", p.branch, "sha", p.sha, "why", why)
		for _, l := range todo {
			res.ignore(l, why)
		}
		return nil
	}
	var failed error
	duplicates := len(all) - len(todo)
	for _, l := range todo {
		if why := s.sameTree(ctx, l, p); why != "" {
			res.ignore(l, why)
			continue
		}
		d, err := s.svc.Submit(queue.WithOnce(ctx, autoKey(l, p.branch, p.sha)), queue.Request{App: l.app.Name, Env: l.env.Name,
			Ref: p.branch, SHA: p.sha, User: p.user, Source: queue.SourceAuto, AuthorEmail: p.email})
		switch {
		case err == nil:
			res.Deploys = append(res.Deploys, d.ID)
		case queue.ErrorCode(err) == queue.EDuplicate: // the same push, at the same time
			duplicates++
			res.ignore(l, done)
		case retryable(err):
			s.log.Error("github: cannot queue an auto-deploy", "lane", l.String(), "sha", p.sha, "err", err)
			failed = err
		default: // never silent: the reason is logged and answered
			if d != nil {
				res.Refused = append(res.Refused, d.ID)
			}
			s.log.Error("github: auto-deploy refused", "lane", l.String(), "sha", p.sha, "err", queue.ErrorMessage(err))
			res.ignore(l, queue.ErrorMessage(err))
		}
	}
	res.Duplicate = duplicates == len(all)
	return failed
}

// undone splits lanes into those that have not auto-deployed p.sha from
// its branch yet and those that have.
func (s *starter) undone(ctx context.Context, ls []lane, p push) (todo, done []lane, err error) {
	for _, l := range ls {
		seen, err := s.svc.Seen(ctx, autoKey(l, p.branch, p.sha))
		if err != nil {
			return nil, nil, err
		}
		if seen {
			done = append(done, l)
		} else {
			todo = append(todo, l)
		}
	}
	return todo, done, nil
}

// behind says why p.sha is older than its branch's head on GitHub ("" if
// it is the head, or newer: GitHub's API may lag its webhooks): a push
// sent before a newer one, or one replayed. It asks GitHub, never the
// payload. Without API access, or when GitHub cannot answer, it knows
// nothing and says "": the once-keys still refuse any sha auto-deployed
// from the branch before.
func (s *starter) behind(ctx context.Context, p push) string {
	if s.client == nil || p.head {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, compareTimeout)
	defer cancel()
	status, err := s.client.compareToBranch(ctx, p.repo, p.branch, p.sha)
	switch {
	case err != nil:
		s.log.Warn("github: cannot ask GitHub whether a push is the head of its branch; deploying it", "repo", p.repo,
			"branch", p.branch, "sha", p.sha, "err", err)
	case status == "behind":
		return fmt.Sprintf("%s is behind the head of %s on GitHub: an old push", queue.ShortSHA(p.sha), p.branch)
	case status == "diverged":
		return fmt.Sprintf("%s is not on %s on GitHub any more", queue.ShortSHA(p.sha), p.branch)
	}
	return ""
}

// sameTree says why a merge need not be deployed to a lane ("" when it
// must): its tree is the one that runs there already (the pull request's
// head was deployed before its merge).
func (s *starter) sameTree(ctx context.Context, l lane, p push) string {
	if s.client == nil || !slices.Contains(p.events, "merge") {
		return ""
	}
	st, err := s.svc.Environment(l.app.Name, l.env.Name)
	if err != nil || st.Current == nil || st.Current.SHA == p.sha {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, compareTimeout)
	defer cancel()
	merged, err1 := s.client.treeOf(ctx, p.repo, p.sha)
	running, err2 := s.client.treeOf(ctx, p.repo, st.Current.SHA)
	if err := firstErr(err1, err2); err != nil || merged == "" || merged != running {
		return "" // GitHub cannot say: deploy it
	}
	return fmt.Sprintf("the merge %s has the tree of %s, which runs there already", queue.ShortSHA(p.sha), queue.ShortSHA(st.Current.SHA))
}

// treeOf is the tree of commit sha.
func (c *Client) treeOf(ctx context.Context, repoName, sha string) (string, error) {
	owner, repo, err := splitRepo(repoName)
	if err != nil {
		return "", err
	}
	commit, _, err := c.gh.Git.GetCommit(ctx, owner, repo, sha)
	if err != nil {
		return "", err
	}
	return commit.GetTree().GetSHA(), nil
}

// compareToBranch says where sha stands against branch's head: identical,
// ahead (newer), behind (older) or diverged.
func (c *Client) compareToBranch(ctx context.Context, repoName, branch, sha string) (string, error) {
	owner, repo, err := splitRepo(repoName)
	if err != nil {
		return "", err
	}
	cmp, _, err := c.gh.Repositories.CompareCommits(ctx, owner, repo, branch, sha, &gh.ListOptions{PerPage: 1})
	if err != nil {
		return "", err
	}
	return cmp.GetStatus(), nil
}

// runDeployment runs a deployment made on GitHub, once per deployment
// id, as its creator (else the first of senders). EInvalid for a
// deployment that cannot be run as it is (no id, a creator that is not a
// GitHub login); a refusal by the queue is final: recorded as done, and
// answered.
func (s *starter) runDeployment(ctx context.Context, repoName string, dep deployment, senders []string, res *Result) error {
	if dep.ID <= 0 {
		return queue.Errorf(queue.EInvalid, "the deployment has no id")
	}
	key := deploymentKey(dep.ID)
	if seen, err := s.svc.Seen(ctx, key); err != nil || seen {
		res.Duplicate = seen
		return err
	}
	user, err := who(s.people, "deployment's creator", append([]string{dep.Creator.Login}, senders...), "")
	if err != nil {
		return err
	}
	for _, a := range s.apps(repoName) {
		if e := a.Env(dep.Environment); e == nil || e.Runner == ActionsRunner {
			continue // none, or one whose deployments are Actions jobs, gated as they ask
		}
		d, err := s.svc.Submit(queue.WithOnce(ctx, key), queue.Request{App: a.Name, Env: dep.Environment, Ref: dep.Ref, SHA: dep.SHA,
			User: user, Source: queue.SourceGitHub, GitHubDeploymentID: dep.ID})
		switch {
		case err == nil:
			res.Deploys = append(res.Deploys, d.ID)
		case queue.ErrorCode(err) == queue.EDuplicate:
			res.Duplicate = true
		case retryable(err):
			s.log.Error("github: cannot queue a deployment", "deployment", dep.ID, "err", err)
			return err
		default:
			s.log.Error("github: deployment refused", "app", a.Name, "env", dep.Environment, "deployment", dep.ID, "err", queue.ErrorMessage(err))
			res.Ignored = queue.ErrorMessage(err)
			_, err := s.svc.Once(ctx, key)
			return err
		}
		return nil
	}
	if len(s.apps(repoName)) == 0 {
		res.Ignored = "no app deploys " + repoName
	} else {
		res.Ignored = fmt.Sprintf("no app of %s has an environment %q", repoName, dep.Environment)
	}
	return nil
}
