// Package runners holds what every runner shares: running a process tree
// that can be ended as a whole, checking out a sha, and filling command
// templates with quoted values.
package runners

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/deployq/deployq/queue"
)

// DefaultGrace is how long a process group has between SIGTERM and SIGKILL.
const DefaultGrace = 10 * time.Second

// RunGroup runs cmd in a process group of its own, copying its stdout and
// stderr to the given writers. When ctx is done the whole group gets
// SIGTERM, then SIGKILL after grace. When the command exits by itself,
// whatever it left running in its group is ended the same way. If track is
// set, the group is recorded in that file while it runs, and its processes
// carry a token in their environment, so that a server that was killed
// can end the group on its next start (see ReapGroups). It returns cmd's
// exit error, or ctx's error if ctx ended it.
func RunGroup(ctx context.Context, cmd *exec.Cmd, stdout, stderr io.Writer, grace time.Duration, track string) error {
	if grace <= 0 {
		grace = DefaultGrace
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	token := ""
	if track != "" {
		token = rand.Text()
		cmd.Env = append(cmd.Environ(), groupEnv+"="+token)
	}
	var copies sync.WaitGroup
	var readers []*os.File
	pipe := func(w io.Writer) (*os.File, error) {
		r, pw, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		readers = append(readers, r)
		copies.Add(1)
		go func() {
			defer copies.Done()
			io.Copy(w, r)
		}()
		return pw, nil
	}
	outW, err := pipe(stdout)
	if err != nil {
		return err
	}
	errW, err := pipe(stderr)
	if err != nil {
		outW.Close()
		return err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	if err := cmd.Start(); err != nil {
		outW.Close()
		errW.Close()
		for _, r := range readers {
			r.Close()
		}
		copies.Wait()
		return err
	}
	outW.Close()
	errW.Close()
	pgid := cmd.Process.Pid
	if track != "" {
		if start, err := startTime(pgid); err == nil {
			groupRecord{pgid: pgid, start: start, token: token}.write(track)
			defer os.Remove(track)
		}
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	var waitErr error
	select {
	case waitErr = <-exited:
		// Leftovers in the group: SIGTERM, and SIGKILL if they hold on.
		if syscall.Kill(-pgid, syscall.SIGTERM) == nil {
			waitCopies(&copies, grace)
		}
	case <-ctx.Done():
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case waitErr = <-exited:
			waitCopies(&copies, grace)
		case <-time.After(grace):
			syscall.Kill(-pgid, syscall.SIGKILL)
			waitErr = <-exited
		}
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	// A process that left the group may still hold a pipe: stop reading.
	if !waitCopies(&copies, time.Second) {
		for _, r := range readers {
			r.Close()
		}
		copies.Wait()
	} else {
		for _, r := range readers {
			r.Close()
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return waitErr
}

func waitCopies(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// ExitResult turns a command's error into a deploy result: nil is OK, an
// exit status is a failed deploy, anything else could not run.
func ExitResult(err error) (queue.Result, error) {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return queue.Result{OK: true}, nil
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return queue.Result{Message: "killed by " + ws.Signal().String()}, nil
		}
		return queue.Result{Message: fmt.Sprintf("exit status %d", ee.ExitCode())}, nil
	}
	return queue.Result{}, err
}

// Checkout clones git into dir and checks out sha, detached. dir must not
// exist. Output of git goes to w.
func Checkout(ctx context.Context, git, sha, dir string, w io.Writer) error {
	if git == "" {
		return errors.New("checkout: the app has no git URL")
	}
	if !queue.IsFullSHA(sha) {
		return fmt.Errorf("checkout: %q is not a full sha", sha)
	}
	steps := [][]string{
		{"git", "clone", "--quiet", "--no-checkout", "--", git, dir},
		{"git", "-C", dir, "checkout", "--quiet", "--detach", sha},
	}
	for _, args := range steps {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Stdout, cmd.Stderr = w, w
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", strings.Join(args[:3], " "), err)
		}
	}
	return nil
}

// JobEnv returns the DEPLOY_* variables of a job.
func JobEnv(job queue.Job) []string {
	env := []string{
		"DEPLOY_APP=" + job.App,
		"DEPLOY_ENV=" + job.Env,
		"DEPLOY_SHA=" + job.SHA,
		"DEPLOY_REF=" + job.Ref,
		"DEPLOY_PREVIOUS_SHA=" + job.PreviousSHA,
		fmt.Sprintf("DEPLOY_ID=%d", job.DeployID),
		fmt.Sprintf("DEPLOY_NUMBER=%d", job.Number),
		"DEPLOY_USER=" + job.User,
	}
	if job.Op == queue.OpNoop {
		env = append(env, "DEPLOY_NOOP=1") // say what it would do; do nothing
	}
	for _, k := range sortedKeys(job.Params) {
		env = append(env, "DEPLOY_PARAM_"+strings.ToUpper(k)+"="+job.Params[k])
	}
	return env
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Placeholders maps the template placeholders to a job's values.
func Placeholders(job queue.Job) map[string]string {
	values := map[string]string{
		"app": job.App, "env": job.Env, "sha": job.SHA, "short_sha": queue.ShortSHA(job.SHA),
		"ref": job.Ref, "previous_sha": job.PreviousSHA, "id": fmt.Sprint(job.DeployID), "user": job.User,
	}
	for k, v := range job.Params {
		values["param."+k] = v
	}
	return values
}

// ExpandShell fills {name} placeholders in a shell command template with
// single-quoted values, so that no value is read as shell syntax. "{{" and
// "}}" stand for literal braces, and "${...}" is the shell's and left as
// it is; {param.NAME} is a deploy parameter. An unknown placeholder is
// an error.
func ExpandShell(tmpl string, values map[string]string) (string, error) {
	return expand(tmpl, values, ShellQuote)
}

// ExpandPlain fills {name} placeholders without quoting, for templates
// that never reach a shell (an image name, a label).
func ExpandPlain(tmpl string, values map[string]string) (string, error) {
	return expand(tmpl, values, func(s string) string { return s })
}

func expand(tmpl string, values map[string]string, quote func(string) string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		switch {
		case c == '{' && strings.HasPrefix(tmpl[i:], "{{"):
			b.WriteByte('{')
			i++
		case c == '}' && strings.HasPrefix(tmpl[i:], "}}"):
			b.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(tmpl[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unclosed { in %q", tmpl)
			}
			if i > 0 && tmpl[i-1] == '$' { // ${VAR}: the shell's
				b.WriteString(tmpl[i : i+end+1])
				i += end
				continue
			}
			name := tmpl[i+1 : i+end]
			v, ok := values[name]
			if param, isParam := strings.CutPrefix(name, "param."); isParam && queue.ValidParamName(param) {
				ok = true // a deploy parameter ("" when the deploy has none of that name)
			}
			if !ok {
				return "", fmt.Errorf("unknown placeholder {%s} (known: {app} {env} {sha} {short_sha} {ref} {previous_sha} {id} {user} {param.NAME})", name)
			}
			b.WriteString(quote(v))
			i += end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// ShellQuote quotes s for sh as one word.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Undoable is a runner's run that changed a target which goes on by
// itself (a rollout in a cluster, a Marathon deployment) and can be undone.
type Undoable struct {
	// Undo takes back what the run changed; why says what went wrong. It
	// returns a summary: "undone: deployment/web".
	Undo func(ctx context.Context, why string) string
	// Table ends the log with where each target stands.
	Table func()
	// Log writes a line.
	Log func(format string, args ...any)
	// Left is what the run says when deployq stops under it: the change
	// goes on and is not undone for that ("the rollout was left to the
	// cluster").
	Left string
}

// Finish ends such a run: success; deployq stopping (left as it goes,
// not undone); or a failure, a timeout or a cancel (undone, and the deploy
// fails, or is canceled, saying what was undone).
func (u Undoable) Finish(ctx context.Context, failure error) (queue.Result, error) {
	if failure == nil {
		u.Table()
		return queue.Result{OK: true}, nil
	}
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), queue.ErrShutdown) {
		u.Log("deployq is stopping: %s, unwatched and not undone", u.Left)
		u.Table()
		return queue.Result{Message: u.Left}, ctx.Err()
	}
	why := failure.Error()
	if ctx.Err() != nil {
		why = context.Cause(ctx).Error()
	}
	summary := u.Undo(context.WithoutCancel(ctx), why)
	u.Table()
	if ctx.Err() != nil {
		return queue.Result{Message: summary}, ctx.Err()
	}
	msg := failure.Error()
	if summary != "" {
		msg += "; " + summary
	}
	return queue.Result{Message: msg}, nil
}

// Changes says how two flattened documents (path -> value of each leaf)
// differ, in the order of their paths: "  - path: a's" for what a has,
// "  + path: b's" for what b has, nothing for leaves that are equal.
func Changes(a, b map[string]string) []string {
	paths := slices.Collect(maps.Keys(a))
	for p := range b {
		if _, ok := a[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	var lines []string
	for _, p := range paths {
		va, ina := a[p]
		vb, inb := b[p]
		if ina && inb && va == vb {
			continue
		}
		if ina {
			lines = append(lines, "  - "+p+": "+va)
		}
		if inb {
			lines = append(lines, "  + "+p+": "+vb)
		}
	}
	return lines
}
