package github

import (
	"context"
	"fmt"
	"strings"

	"github.com/deployq/deployq/queue"
	gh "github.com/google/go-github/v62/github"
)

// The branch-deploy rules of an environment (pr_deploys) that only
// GitHub can answer: an approved review, a head that contains what runs.

// prRules says why a deploy of the pull request's head (sha) to env is
// refused, or nil. force (.deploy!) skips refuse_behind.
func (c *prCall) prRules(ctx context.Context, app *queue.App, env *queue.Environment, sha string, force bool) error {
	rules := env.PRDeploys
	client := c.rc.client
	if rules.RequireReview {
		ok, why, err := client.approved(ctx, c.repo, c.number)
		switch {
		case err != nil:
			return fmt.Errorf("reading pull request %d's reviews: %w", c.number, err)
		case !ok:
			return queue.Errorf(queue.EForbidden, "%s needs an approved review of this pull request first (%s)", env.Name, why)
		}
	}
	if !rules.RefuseBehind || force || sha == "" {
		return nil
	}
	st, err := c.rc.svc.Environment(app.Name, env.Name)
	if err != nil || st.Current == nil || st.Current.SHA == sha {
		return err
	}
	status, err := client.compare(ctx, c.repo, st.Current.SHA, sha)
	switch {
	case err != nil:
		return fmt.Errorf("asking GitHub whether the head contains what runs in %s: %w", env.Name, err)
	case status == "behind" || status == "diverged":
		return queue.Errorf(queue.EConflict, "this branch does not contain %s, which runs in %s: deploying it would roll back others' commits; merge or rebase, or %sdeploy! to deploy it anyway",
			queue.ShortSHA(st.Current.SHA), env.Name, c.rc.pr.prefix)
	}
	return nil
}

// approved reports whether pull request number has an approved review
// and no change requested (each reviewer's latest review counts), and
// if not, what it has.
func (c *Client) approved(ctx context.Context, repoName string, number int) (bool, string, error) {
	owner, repo, err := splitRepo(repoName)
	if err != nil {
		return false, "", err
	}
	latest := map[string]string{}
	opts := &gh.ListOptions{PerPage: 100}
	for {
		reviews, resp, err := c.gh.PullRequests.ListReviews(ctx, owner, repo, number, opts)
		if err != nil {
			return false, "", err
		}
		for _, r := range reviews {
			if s := r.GetState(); s == "APPROVED" || s == "CHANGES_REQUESTED" || s == "DISMISSED" {
				latest[r.GetUser().GetLogin()] = s
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	var approved, changes []string
	for who, s := range latest {
		switch s {
		case "APPROVED":
			approved = append(approved, who)
		case "CHANGES_REQUESTED":
			changes = append(changes, who)
		}
	}
	switch {
	case len(changes) > 0:
		return false, "changes requested by " + strings.Join(changes, ", "), nil
	case len(approved) == 0:
		return false, "no approved review", nil
	}
	return true, "", nil
}

// compare says where head stands against base: identical, ahead (it
// contains base), behind or diverged.
func (c *Client) compare(ctx context.Context, repoName, base, head string) (string, error) {
	owner, repo, err := splitRepo(repoName)
	if err != nil {
		return "", err
	}
	cmp, _, err := c.gh.Repositories.CompareCommits(ctx, owner, repo, base, head, &gh.ListOptions{PerPage: 1})
	if err != nil {
		return "", err
	}
	return cmp.GetStatus(), nil
}

// stickyReason is the reason of the lock a pull request's deploy takes
// (sticky_lock): it names the pull request, which releases it.
func stickyReason(repo string, number int) string {
	return fmt.Sprintf("held by pull request %s#%d until it is merged or closed, or .unlock", repo, number)
}

// stickyLock locks the deploy's environment for the pull request, as
// the commenter, once the deploy is queued; someone else's lock is left
// alone (the deploy waits for it).
func (c *prCall) stickyLock(ctx context.Context, env *queue.Environment) {
	_, _, err := c.rc.svc.Lock(ctx, queue.LockRequest{Env: env.Name, Owner: c.user, Reason: stickyReason(c.repo, c.number)})
	if err != nil {
		c.rc.log.Info("github: no sticky lock for a pull request", "repo", c.repo, "pr", c.number, "env", env.Name, "why", queue.ErrorMessage(err))
	}
}

// releaseSticky releases the locks pull request number of repo holds
// (it was merged or closed).
func (rc *Receiver) releaseSticky(ctx context.Context, repo string, number int) []string {
	locks, err := rc.svc.Locks(ctx)
	if err != nil {
		rc.log.Error("github: reading locks to release a pull request's", "err", err)
		return nil
	}
	var released []string
	for _, l := range locks {
		if l.Reason != stickyReason(repo, number) {
			continue
		}
		if _, err := rc.svc.Unlock(ctx, l.Env, l.App, l.Owner); err != nil {
			rc.log.Error("github: releasing a pull request's lock", "env", l.Env, "err", err)
			continue
		}
		released = append(released, l.Scope())
	}
	return released
}
