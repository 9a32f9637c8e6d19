package ssh

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners"
	"golang.org/x/crypto/ssh"
)

// deployHost runs steps on one host over one connection, each step
// retried as it says; the host's output is its own pair of streams.
func (r *Runner) deployHost(ctx context.Context, h host, base *ssh.ClientConfig, steps []Step, job queue.Job, out queue.Output) hostState {
	stdout, stderr := out.Stream(queue.StreamStdout, h.name), out.Stream(queue.StreamStderr, h.name)
	defer stdout.Close()
	defer stderr.Close()
	client, refused := dial(ctx, h, base, stderr)
	if refused != nil {
		return *refused
	}
	defer client.Close()
	env := h.env(runners.JobEnv(job))
	changed := false
	for _, step := range steps {
		// {sha} and the other placeholders, single-quoted, as for the shell runner
		cmd, err := runners.ExpandShell(step.Command, runners.Placeholders(job))
		if err != nil {
			fmt.Fprintf(stderr, "step %s: %v\n", step.Name, err)
			return hostState{state: "failed", step: step.Name, detail: err.Error(), changed: changed}
		}
		step.Command = cmd
		for attempt := 0; attempt <= step.Retries; attempt++ {
			if attempt > 0 {
				fmt.Fprintf(stderr, "retrying %s (%d/%d)\n", step.Name, attempt, step.Retries)
			}
			var started bool
			started, err = runStep(ctx, client, step, env, stdout, stderr)
			changed = changed || started
			if err == nil || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "step %s failed: %v\n", step.Name, err)
			return hostState{state: "failed", step: step.Name, detail: err.Error(), changed: changed}
		}
	}
	return hostState{state: "ok", changed: changed}
}

// runStep runs one command in a session of its own. DEPLOY_* values go as
// environment variables (SetEnv), or, where the server refuses them, as a
// quoted export prefix: never raw into the command. When ctx ends (or the
// step's timeout passes) the step's remote processes are ended. started
// says whether the command was started on the host, whatever came of it.
func runStep(ctx context.Context, client *ssh.Client, step Step, env []string, stdout, stderr io.Writer) (started bool, _ error) {
	sess, err := client.NewSession()
	if err != nil {
		return false, err
	}
	defer sess.Close()
	prefix := ""
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if sess.Setenv(k, v) != nil {
			prefix += "export " + k + "=" + runners.ShellQuote(v) + "; "
		}
	}
	pg := &pgidWriter{w: stderr, known: make(chan struct{})}
	sess.Stdout, sess.Stderr = stdout, pg
	if step.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, step.Timeout)
		defer cancel()
	}
	// sshd makes the remote shell a session leader: its pid is the process
	// group of everything the step starts. It is reported on stderr first
	// (and kept out of the log), to end the group on cancel.
	if err := sess.Start(prefix + "echo " + pgidMarker + "$$ >&2; " + step.Command); err != nil {
		return false, err
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err := <-done:
		return true, err
	case <-ctx.Done():
		// The group is known once the marker line has come back, which
		// may be after the step started its work: wait for it.
		select {
		case <-pg.known:
		case <-done:
			return true, stepEnded(ctx, step)
		case <-time.After(5 * time.Second):
		}
		endRemote(client, sess, pg.pgid())
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
		sess.Close()
		return true, stepEnded(ctx, step)
	}
}

// stepEnded is the error of a step whose ctx ended: its timeout, or ctx's.
func stepEnded(ctx context.Context, step Step) error {
	if ctx.Err() == context.DeadlineExceeded && step.Timeout > 0 {
		return fmt.Errorf("timed out after %s", step.Timeout)
	}
	return ctx.Err()
}

// endRemote ends a step's remote processes: the session gets SIGTERM
// (sshd honours that for non-root users), and the step's process group
// gets TERM, then KILL, through a second session, whatever the user.
func endRemote(client *ssh.Client, sess *ssh.Session, pgid int) {
	sess.Signal(ssh.SIGTERM)
	if pgid <= 1 {
		return
	}
	if k, err := client.NewSession(); err == nil {
		k.Run(fmt.Sprintf("kill -TERM -- -%d 2>/dev/null; sleep 2; kill -KILL -- -%d 2>/dev/null; true", pgid, pgid))
		k.Close()
	}
}

const pgidMarker = "deployq-pgid:"

// pgidWriter passes stderr through, but for the first line, which names
// the remote process group.
type pgidWriter struct {
	w     io.Writer
	known chan struct{} // closed once the first line is read
	mu    sync.Mutex
	buf   []byte
	seen  bool
	id    int
}

// Write passes b on, once the first line is read and kept.
func (p *pgidWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	if p.seen {
		p.mu.Unlock()
		return p.w.Write(b)
	}
	p.buf = append(p.buf, b...)
	i := strings.IndexByte(string(p.buf), '\n')
	if i < 0 {
		p.mu.Unlock()
		return len(b), nil
	}
	line, rest := string(p.buf[:i]), p.buf[i+1:]
	p.seen, p.buf = true, nil
	close(p.known)
	if v, ok := strings.CutPrefix(line, pgidMarker); ok {
		p.id, _ = strconv.Atoi(strings.TrimSpace(v))
	} else {
		rest = append([]byte(line+"\n"), rest...)
	}
	p.mu.Unlock()
	if len(rest) > 0 {
		if _, err := p.w.Write(rest); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

func (p *pgidWriter) pgid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.id
}
