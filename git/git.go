// Package git resolves refs of apps through their git URL with the git
// command: branches and tags by ls-remote, short and full shas in a bare
// mirror kept under a data directory.
package git

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/deployq/deployq/queue"
)

// Resolver implements queue.Resolver with the git command.
type Resolver struct {
	dir    string // mirrors, one per app
	mu     sync.Mutex
	app    map[string]*sync.Mutex
	listed map[string]listing // app -> its refs, as last listed
}

// NewResolver keeps its mirrors under dir.
func NewResolver(dir string) *Resolver {
	return &Resolver{dir: dir, app: map[string]*sync.Mutex{}, listed: map[string]listing{}}
}

// Resolve implements queue.Resolver. A ref that is not a branch, tag or
// commit of the app is EInvalid; an unreachable repository is EInternal
// with git's message.
func (r *Resolver) Resolve(ctx context.Context, app *queue.App, ref string) (string, error) {
	if !queue.ValidRef(ref) {
		return "", queue.Errorf(queue.EInvalid, "invalid ref %q", ref)
	}
	if app.Git == "" {
		if queue.IsFullSHA(ref) {
			return ref, nil
		}
		return "", queue.Errorf(queue.EInvalid, "%s has no git URL to resolve %q: give a full 40-hex sha", app.Name, ref)
	}
	if !queue.IsFullSHA(ref) {
		out, err := run(ctx, "", "ls-remote", "--", app.Git, "refs/heads/"+ref, "refs/tags/"+ref, "refs/tags/"+ref+"^{}")
		if err != nil {
			return "", queue.Errorf(queue.EInternal, "cannot read the refs of %s: %v", app.Name, err)
		}
		found := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if sha, name, ok := strings.Cut(line, "\t"); ok {
				found[name] = sha
			}
		}
		for _, name := range []string{"refs/heads/" + ref, "refs/tags/" + ref + "^{}", "refs/tags/" + ref} {
			if sha := found[name]; queue.IsFullSHA(sha) {
				return sha, nil
			}
		}
		if !queue.LooksLikeSHA(ref) {
			return "", queue.Errorf(queue.EInvalid, "%s has no branch or tag %q", app.Name, ref)
		}
	}
	return r.commit(ctx, app, ref)
}

// commit finds a (short) sha in the app's mirror, fetching when unknown.
func (r *Resolver) commit(ctx context.Context, app *queue.App, sha string) (string, error) {
	r.mu.Lock()
	mu := r.app[app.Name]
	if mu == nil {
		mu = &sync.Mutex{}
		r.app[app.Name] = mu
	}
	r.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	mirror := filepath.Join(r.dir, app.Name+".git")
	if _, err := os.Stat(mirror); err != nil {
		if err := os.MkdirAll(r.dir, 0o755); err != nil {
			return "", err
		}
		if _, err := run(ctx, "", "clone", "--quiet", "--mirror", "--", app.Git, mirror); err != nil {
			return "", queue.Errorf(queue.EInternal, "cannot mirror %s: %v", app.Name, err)
		}
	} else if full, err := revParse(ctx, mirror, sha); err == nil {
		return full, nil
	} else if _, err := run(ctx, mirror, "fetch", "--quiet", "--prune", "--", app.Git, "+refs/*:refs/*"); err != nil {
		return "", queue.Errorf(queue.EInternal, "cannot fetch %s: %v", app.Name, err)
	}
	full, err := revParse(ctx, mirror, sha)
	if err != nil {
		return "", queue.Errorf(queue.EInvalid, "%s has no commit %q", app.Name, sha)
	}
	return full, nil
}

func revParse(ctx context.Context, dir, sha string) (string, error) {
	out, err := run(ctx, dir, "rev-parse", "--verify", "--quiet", "--end-of-options", sha+"^{commit}")
	out = strings.TrimSpace(out)
	if err != nil || !queue.IsFullSHA(out) {
		return "", fmt.Errorf("no commit %s", sha)
	}
	return out, nil
}

func run(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	if dir != "" {
		cmd.Dir = dir
	}
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("%s", msg)
	}
	return stdout.String(), nil
}
