package git

import (
	"context"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
)

// refsTTL is how long a listing of an app's refs is kept.
const refsTTL = 15 * time.Second

type listing struct {
	refs []string
	at   time.Time
}

// Refs implements queue.RefLister with ls-remote: the app's branches,
// then its tags, each sorted by name; kept refsTTL.
func (r *Resolver) Refs(ctx context.Context, app *queue.App) ([]string, error) {
	if app.Git == "" {
		return nil, nil
	}
	r.mu.Lock()
	l, ok := r.listed[app.Name]
	r.mu.Unlock()
	if ok && time.Since(l.at) < refsTTL {
		return l.refs, nil
	}
	out, err := run(ctx, "", "ls-remote", "--heads", "--tags", "--", app.Git)
	if err != nil {
		return nil, queue.Errorf(queue.EInternal, "cannot read the refs of %s: %v", app.Name, err)
	}
	var heads, tags []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		_, name, ok := strings.Cut(line, "\t")
		switch {
		case !ok || strings.HasSuffix(name, "^{}"):
		case strings.HasPrefix(name, "refs/heads/"):
			heads = append(heads, strings.TrimPrefix(name, "refs/heads/"))
		case strings.HasPrefix(name, "refs/tags/"):
			tags = append(tags, strings.TrimPrefix(name, "refs/tags/"))
		}
	}
	refs := append(heads, tags...)
	r.mu.Lock()
	r.listed[app.Name] = listing{refs: refs, at: time.Now()}
	r.mu.Unlock()
	return refs, nil
}
