package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
	gh "github.com/google/go-github/v62/github"
)

const refCacheTTL = 15 * time.Second

// Resolver resolves refs of apps that have a repo through GitHub's API
// (branches, tags, short shas), cached for a few seconds; other apps go to
// the fallback (their git URL).
type Resolver struct {
	client   *Client
	fallback queue.Resolver
	mu       sync.Mutex
	cache    map[string]cachedRef
	listed   map[string]listedRefs // repo -> its branches and tags
}

type cachedRef struct {
	sha string
	at  time.Time
}

// NewResolver returns a resolver over client, with fallback for apps
// without a repo.
func NewResolver(client *Client, fallback queue.Resolver) *Resolver {
	return &Resolver{client: client, fallback: fallback, cache: map[string]cachedRef{}, listed: map[string]listedRefs{}}
}

// Resolve implements queue.Resolver: EInvalid for a ref GitHub does not
// know, EInternal when GitHub cannot be asked.
func (r *Resolver) Resolve(ctx context.Context, app *queue.App, ref string) (string, error) {
	if app.Repo == "" {
		return r.fallback.Resolve(ctx, app, ref)
	}
	if !queue.ValidRef(ref) {
		return "", queue.Errorf(queue.EInvalid, "invalid ref %q", ref)
	}
	key := app.Repo + "@" + ref
	r.mu.Lock()
	c, ok := r.cache[key]
	r.mu.Unlock()
	if ok && time.Since(c.at) < refCacheTTL {
		return c.sha, nil
	}
	owner, repo, err := splitRepo(app.Repo)
	if err != nil {
		return "", err
	}
	commit, _, err := r.client.gh.Repositories.GetCommit(ctx, owner, repo, ref, nil)
	var resp *gh.ErrorResponse
	switch {
	case errors.As(err, &resp) && (resp.Response.StatusCode == http.StatusNotFound || resp.Response.StatusCode == http.StatusUnprocessableEntity):
		return "", queue.Errorf(queue.EInvalid, "%s has no branch, tag or commit %q", app.Repo, ref)
	case err != nil:
		return "", queue.Errorf(queue.EInternal, "cannot ask GitHub about %s@%s: %v", app.Repo, ref, err)
	}
	sha := commit.GetSHA()
	if !queue.IsFullSHA(sha) {
		return "", queue.Errorf(queue.EInternal, "GitHub answered %q for %s@%s", sha, app.Repo, ref)
	}
	r.mu.Lock()
	r.cache[key] = cachedRef{sha, time.Now()}
	r.mu.Unlock()
	return sha, nil
}

// Compare implements queue.Comparer: the link to what changes from base
// to head, and how many commits that is.
func (c *Client) Compare(ctx context.Context, app *queue.App, base, head string) (string, int, error) {
	owner, repo, err := splitRepo(app.Repo)
	if err != nil {
		return "", 0, err
	}
	cmp, _, err := c.gh.Repositories.CompareCommits(ctx, owner, repo, base, head, &gh.ListOptions{PerPage: 1})
	if err != nil {
		return "", 0, fmt.Errorf("compare %s...%s: %w", queue.ShortSHA(base), queue.ShortSHA(head), err)
	}
	return cmp.GetHTMLURL(), cmp.GetAheadBy(), nil
}

// Refs implements queue.RefLister: an app with a repo lists its
// branches, then its tags (the first 100 of each, as GitHub orders
// them), kept refCacheTTL; another app lists through its fallback.
func (r *Resolver) Refs(ctx context.Context, app *queue.App) ([]string, error) {
	if app.Repo == "" {
		if l, ok := r.fallback.(queue.RefLister); ok {
			return l.Refs(ctx, app)
		}
		return nil, nil
	}
	key := app.Repo + " refs"
	r.mu.Lock()
	c, ok := r.listed[key]
	r.mu.Unlock()
	if ok && time.Since(c.at) < refCacheTTL {
		return c.refs, nil
	}
	owner, repo, err := splitRepo(app.Repo)
	if err != nil {
		return nil, err
	}
	page := &gh.ListOptions{PerPage: 100}
	branches, _, err := r.client.gh.Repositories.ListBranches(ctx, owner, repo, &gh.BranchListOptions{ListOptions: *page})
	if err != nil {
		return nil, queue.Errorf(queue.EInternal, "cannot list the branches of %s: %v", app.Repo, err)
	}
	tags, _, err := r.client.gh.Repositories.ListTags(ctx, owner, repo, page)
	if err != nil {
		return nil, queue.Errorf(queue.EInternal, "cannot list the tags of %s: %v", app.Repo, err)
	}
	refs := make([]string, 0, len(branches)+len(tags))
	for _, b := range branches {
		refs = append(refs, b.GetName())
	}
	for _, t := range tags {
		refs = append(refs, t.GetName())
	}
	r.mu.Lock()
	r.listed[key] = listedRefs{refs, time.Now()}
	r.mu.Unlock()
	return refs, nil
}

type listedRefs struct {
	refs []string
	at   time.Time
}
