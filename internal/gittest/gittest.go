// Package gittest makes real git repositories for tests.
package gittest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Repo is a bare repository with a work tree that pushes to it.
type Repo struct {
	t    testing.TB
	Bare string // the URL apps use
	work string
}

// New creates an empty repository under t.TempDir with branch main.
func New(t testing.TB) *Repo {
	t.Helper()
	dir := t.TempDir()
	r := &Repo{t: t, Bare: filepath.Join(dir, "app.git"), work: filepath.Join(dir, "work")}
	r.git(dir, "init", "--quiet", "--bare", "--initial-branch=main", r.Bare)
	r.git(dir, "init", "--quiet", "--initial-branch=main", r.work)
	r.Git("remote", "add", "origin", r.Bare)
	return r
}

func (r *Repo) git(dir string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.invalid"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// Git runs git in the work tree and returns its trimmed output.
func (r *Repo) Git(args ...string) string { r.t.Helper(); return r.git(r.work, args...) }

// Commit writes files (name -> content; an executable if the name ends in
// .sh), commits them on the current branch, pushes, and returns the sha.
func (r *Repo) Commit(msg string, files map[string]string) string {
	r.t.Helper()
	for name, body := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		p := filepath.Join(r.work, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			r.t.Fatal(err)
		}
	}
	r.Git("add", "-A")
	r.Git("commit", "--quiet", "--allow-empty", "-m", msg)
	r.Git("push", "--quiet", "--all", "origin")
	r.Git("push", "--quiet", "--tags", "origin")
	return r.Git("rev-parse", "HEAD")
}

// Tag tags HEAD (annotated when msg is set) and pushes the tag.
func (r *Repo) Tag(name, msg string) {
	r.t.Helper()
	if msg != "" {
		r.Git("tag", "-a", "-m", msg, name)
	} else {
		r.Git("tag", name)
	}
	r.Git("push", "--quiet", "origin", "refs/tags/"+name)
}
