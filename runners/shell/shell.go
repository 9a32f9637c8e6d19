// Package shell runs deploys as a shell command (a script, Fabric, make,
// Capistrano...) in a per-app workspace, optionally in a checkout of the
// app at the deploy's sha.
package shell

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners"
)

// Settings are an environment's shell runner settings.
type Settings struct {
	// Command is run with sh -c. Placeholders ({app} {env} {sha}
	// {short_sha} {ref} {previous_sha} {id} {user}) are replaced by
	// single-quoted values; the same values are in DEPLOY_* variables.
	Command string `yaml:"command"`
	// Checkout runs the command in a fresh checkout of the app's git at
	// the sha, removed afterwards.
	Checkout bool `yaml:"checkout"`
	// Dir is the working directory, relative to the workspace or checkout.
	Dir string `yaml:"dir"`
	// Env adds environment variables.
	Env map[string]string `yaml:"env"`
	// KillGrace is the time between SIGTERM and SIGKILL on cancel or
	// timeout (default: the runner's, server.kill_grace).
	KillGrace time.Duration `yaml:"kill_grace"`
}

// Validate checks the settings. Each problem is one of the errors
// joined.
func (s *Settings) Validate() error {
	var errs []error
	if s.Command == "" {
		errs = append(errs, errors.New("command is required"))
	} else if _, err := runners.ExpandShell(s.Command, runners.Placeholders(queue.Job{})); err != nil {
		errs = append(errs, fmt.Errorf("command: %w", err))
	}
	if s.Dir != "" && !filepath.IsLocal(s.Dir) {
		errs = append(errs, fmt.Errorf("dir %q must be a relative path inside the workspace", s.Dir))
	}
	return errors.Join(errs...)
}

// ValidateApp checks the settings against the app: a checkout clones the
// app's git.
func (s *Settings) ValidateApp(app *queue.App) error {
	if s.Checkout && app.Git == "" {
		return fmt.Errorf("checkout: true clones the app's git, and %s has none: set its git (a URL or path)", app.Name)
	}
	return nil
}

// Runner is the shell runner.
type Runner struct {
	// Workspace is the directory that holds one workspace per app.
	Workspace string
	// Grace is the default time between SIGTERM and SIGKILL.
	Grace time.Duration
}

// New returns a shell runner with workspaces under dir.
func New(dir string) *Runner { return &Runner{Workspace: dir, Grace: runners.DefaultGrace} }

// Reap ends the process trees of deploys that were running when a previous
// server died. Call it at start, before deploys run; it returns the process
// groups it killed.
func (r *Runner) Reap() []int { return runners.ReapGroups(filepath.Join(r.Workspace, ".groups")) }

// Noop implements queue.Rehearser: the command runs with DEPLOY_NOOP=1,
// and says what it would do.
func (r *Runner) Noop(ctx context.Context, job queue.Job, out queue.Output) (queue.Result, error) {
	return r.Run(ctx, job, out)
}

// Run implements queue.Runner.
func (r *Runner) Run(ctx context.Context, job queue.Job, out queue.Output) (queue.Result, error) {
	st, ok := job.Settings.(*Settings)
	if !ok {
		return queue.Result{}, fmt.Errorf("shell: settings are %T, not *shell.Settings", job.Settings)
	}
	command, err := runners.ExpandShell(st.Command, runners.Placeholders(job))
	if err != nil {
		return queue.Result{}, err
	}
	dir := filepath.Join(r.Workspace, job.App)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return queue.Result{}, err
	}
	stdout, stderr := out.Stream(queue.StreamStdout, ""), out.Stream(queue.StreamStderr, "")
	defer stdout.Close()
	defer stderr.Close()
	if st.Checkout {
		dir = filepath.Join(dir, fmt.Sprintf("deploy-%d", job.DeployID))
		os.RemoveAll(dir)
		defer os.RemoveAll(dir)
		out.Progress(queue.Progress{Phase: "checkout", Message: "checking out " + queue.ShortSHA(job.SHA)})
		if err := runners.Checkout(ctx, job.Git, job.SHA, dir, stderr); err != nil {
			if ctx.Err() != nil {
				return queue.Result{}, ctx.Err()
			}
			return queue.Result{}, err
		}
	}
	if st.Dir != "" {
		base := dir
		dir = filepath.Join(base, st.Dir)
		// checked here: for a missing directory, exec would say
		// "fork/exec /bin/sh: no such file or directory"
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return queue.Result{}, fmt.Errorf("dir %q: no such directory in %s", st.Dir, base)
		}
	}
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), runners.JobEnv(job)...)
	keys := make([]string, 0, len(st.Env))
	for k := range st.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+st.Env[k])
	}
	out.Progress(queue.Progress{Phase: "run"})
	track := filepath.Join(r.Workspace, ".groups", fmt.Sprintf("deploy-%d.pgid", job.DeployID))
	grace := st.KillGrace
	if grace == 0 {
		grace = r.Grace
	}
	err = runners.RunGroup(ctx, cmd, stdout, stderr, grace, track)
	if ctx.Err() != nil {
		return queue.Result{}, ctx.Err()
	}
	return runners.ExitResult(err)
}
