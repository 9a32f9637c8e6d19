// Package ssh runs deploys as a batch rollout over SSH
// (golang.org/x/crypto/ssh): a canary first, then batches, with a brake
// that stops the rollout and rolls back the hosts already done when too
// many fail. Host keys are always verified against known_hosts unless
// insecure_ignore_host_key is set, which is logged loudly.
package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Step is one command run on every host.
type Step struct {
	Name    string        `yaml:"name"`
	Command string        `yaml:"command"`
	Timeout time.Duration `yaml:"timeout"`
	Retries int           `yaml:"retries"`
}

// Settings are an environment's ssh runner settings.
type Settings struct {
	Hosts                 []string      `yaml:"hosts"`         // [user@]host[:port]
	Inventory             string        `yaml:"inventory"`     // a file of hosts, one a line, # comments
	HostsCommand          string        `yaml:"hosts_command"` // prints the hosts, one a line (a dynamic inventory)
	Agent                 bool          `yaml:"agent"`         // also use the ssh-agent at $SSH_AUTH_SOCK
	User                  string        `yaml:"user"`          // default for hosts without one
	KeyFiles              []string      `yaml:"key_files"`
	KnownHosts            string        `yaml:"known_hosts"`
	InsecureIgnoreHostKey bool          `yaml:"insecure_ignore_host_key"`
	Canary                string        `yaml:"canary"`       // count or %, default 1
	CanaryLabel           string        `yaml:"canary_label"` // key=value: the hosts with this label are the canary
	Batch                 string        `yaml:"batch"`        // count or %, default 25%
	Bake                  time.Duration `yaml:"bake"`         // wait after the canary
	Pause                 time.Duration `yaml:"pause"`        // between batches
	Parallel              int           `yaml:"parallel"`     // connections at once, default 10
	MaxFailures           string        `yaml:"max_failures"` // count or % of all hosts, default 0
	Manual                bool          `yaml:"manual"`       // pause after the canary until continue
	ConnectTimeout        time.Duration `yaml:"connect_timeout"`
	Steps                 []Step        `yaml:"steps"`
	Rollback              *Step         `yaml:"rollback"` // run on done hosts when the brake trips
}

// Validate checks the settings.
func (s *Settings) Validate() error {
	if len(s.Hosts) == 0 && s.Inventory == "" && s.HostsCommand == "" {
		return errors.New("hosts, inventory or hosts_command is required")
	}
	if s.KnownHosts == "" && !s.InsecureIgnoreHostKey {
		return errors.New("known_hosts is required (host keys are verified)")
	}
	if len(s.KeyFiles) == 0 && !s.Agent {
		return errors.New("key_files or agent is required")
	}
	if len(s.Steps) == 0 {
		return errors.New("steps are required")
	}
	if s.CanaryLabel != "" {
		if k, _, ok := strings.Cut(s.CanaryLabel, "="); !ok || !labelKeyRe.MatchString(k) {
			return fmt.Errorf("canary_label %q: want key=value", s.CanaryLabel)
		}
	}
	for _, v := range []struct{ name, val string }{{"canary", s.Canary}, {"batch", s.Batch}, {"max_failures", s.MaxFailures}} {
		if v.val != "" {
			if _, err := amount(v.val, 100); err != nil {
				return fmt.Errorf("%s: %v", v.name, err)
			}
		}
	}
	for _, st := range append(append([]Step{}, s.Steps...), s.rollbackSteps()...) {
		if st.Command == "" {
			return fmt.Errorf("step %q has no command", st.Name)
		}
	}
	return nil
}

func (s *Settings) rollbackSteps() []Step {
	if s.Rollback == nil {
		return nil
	}
	return []Step{*s.Rollback}
}

// withCanary returns a copy of st whose canary is n hosts.
func withCanary(st *Settings, n int) *Settings {
	c := *st
	c.Canary = strconv.Itoa(n)
	return &c
}

// amount reads "3" or "25%" of total (at least 1 for a percentage of a
// non-empty total).
func amount(v string, total int) (int, error) {
	if p, ok := strings.CutSuffix(v, "%"); ok {
		n, err := strconv.ParseFloat(p, 64)
		if err != nil || n < 0 || n > 100 {
			return 0, fmt.Errorf("bad percentage %q", v)
		}
		c := int(float64(total)*n/100 + 0.999999)
		if c == 0 && n > 0 && total > 0 {
			c = 1
		}
		return c, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad count %q (a number, or a percentage like 25%%)", v)
	}
	return n, nil
}

// Runner is the ssh runner.
type Runner struct {
	// Warn is told when a host key is not verified.
	Warn func(msg string)
}

// New returns an ssh runner.
func New(warn func(string)) *Runner { return &Runner{Warn: warn} }

// host is one target.
type host struct {
	name   string // as configured, for the log
	addr   string // host:port
	user   string
	labels map[string]string
}

var labelKeyRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// parseHost reads "[user@]host[:port] [key=value ...]".
func parseHost(line, defUser string) (host, error) {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return host{}, fmt.Errorf("empty host line")
	}
	s := fields[0]
	h := host{name: s, user: defUser, labels: map[string]string{}}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok || !labelKeyRe.MatchString(k) {
			return h, fmt.Errorf("bad label %q on %s (want key=value)", f, s)
		}
		h.labels[k] = v
	}
	if u, rest, ok := strings.Cut(s, "@"); ok {
		h.user, s = u, rest
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		s = net.JoinHostPort(s, "22")
	}
	h.addr = s
	if h.user == "" {
		h.user = "root"
	}
	if strings.ContainsAny(h.addr, " \t") {
		return h, fmt.Errorf("bad host %q", h.name)
	}
	return h, nil
}

func (s *Settings) hosts(ctx context.Context) ([]host, error) {
	lines := append([]string{}, s.Hosts...)
	var text string
	if s.Inventory != "" {
		b, err := os.ReadFile(s.Inventory)
		if err != nil {
			return nil, fmt.Errorf("inventory: %w", err)
		}
		text = string(b)
	}
	if s.HostsCommand != "" {
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", s.HostsCommand)
		var errb strings.Builder
		cmd.Stderr = &errb
		b, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("hosts_command: %v: %s", err, strings.TrimSpace(errb.String()))
		}
		text += "\n" + string(b)
	}
	for _, l := range strings.Split(text, "\n") {
		if l, _, _ = strings.Cut(l, "#"); strings.TrimSpace(l) != "" {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	if len(lines) == 0 {
		return nil, errors.New("no hosts to deploy to")
	}
	var out []host
	for _, l := range lines {
		h, err := parseHost(l, s.User)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// hostState is how a host ended.
type hostState struct {
	state  string // ok, failed, unreachable, skipped, rolled back, rollback failed
	step   string // where it failed
	detail string
}

// Run implements queue.Runner.
func (r *Runner) Run(ctx context.Context, job queue.Job, out queue.Output) (queue.Result, error) {
	st, ok := job.Settings.(*Settings)
	if !ok {
		return queue.Result{}, fmt.Errorf("ssh: settings are %T", job.Settings)
	}
	hosts, err := st.hosts(ctx)
	if err != nil {
		return queue.Result{}, err
	}
	if st.CanaryLabel != "" {
		// hosts with the label go first, and make the canary
		k, v, _ := strings.Cut(st.CanaryLabel, "=")
		sort.SliceStable(hosts, func(i, j int) bool { return hosts[i].labels[k] == v && hosts[j].labels[k] != v })
		n := 0
		for _, h := range hosts {
			if h.labels[k] == v {
				n++
			}
		}
		if n == 0 {
			return queue.Result{}, fmt.Errorf("canary_label %s: no host has it", st.CanaryLabel)
		}
		st = withCanary(st, n)
	}
	cfg, closeAuth, err := r.clientConfig(st)
	if err != nil {
		return queue.Result{}, err
	}
	defer closeAuth()
	plan, err := batches(st, len(hosts))
	if err != nil {
		return queue.Result{}, err
	}
	maxFail := 0
	if st.MaxFailures != "" {
		maxFail, _ = amount(st.MaxFailures, len(hosts))
	}
	parallel := st.Parallel
	if parallel <= 0 {
		parallel = 10
	}
	sys := out.Stream(queue.StreamStdout, "")
	defer sys.Close()
	fmt.Fprintf(sys, "rollout to %d hosts in %d batches (canary %d), parallel %d, brake after %d failures\n",
		len(hosts), len(plan), plan[0], parallel, maxFail)

	states := make([]hostState, len(hosts))
	for i := range states {
		states[i].state = "skipped"
	}
	var done []int // hosts that finished all steps
	failures, next := 0, 0
	braked := false
	for b, size := range plan {
		if ctx.Err() != nil {
			break
		}
		idx := make([]int, size)
		for i := range idx {
			idx[i] = next + i
		}
		next += size
		out.Progress(queue.Progress{Phase: fmt.Sprintf("batch %d/%d", b+1, len(plan)), Done: len(done) + failures, Total: len(hosts)})
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, parallel)
		for _, i := range idx {
			mu.Lock()
			stop := failures > maxFail
			mu.Unlock()
			if stop || ctx.Err() != nil {
				break // the brake: no new hosts
			}
			sem <- struct{}{}
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				defer func() { <-sem }()
				hs := r.deployHost(ctx, hosts[i], cfg, st.Steps, job, out)
				mu.Lock()
				states[i] = hs
				if hs.state == "ok" {
					done = append(done, i)
				} else if ctx.Err() == nil {
					failures++
				}
				d := len(done) + failures
				mu.Unlock()
				out.Progress(queue.Progress{Phase: fmt.Sprintf("batch %d/%d", b+1, len(plan)), Done: d, Total: len(hosts),
					Message: fmt.Sprintf("%d failed", failures)})
			}(i)
		}
		wg.Wait()
		if failures > maxFail {
			braked = true
			break
		}
		if b == 0 && len(plan) > 1 && ctx.Err() == nil {
			if st.Bake > 0 {
				fmt.Fprintf(sys, "canary done; baking %s\n", st.Bake)
				failures += r.bake(ctx, st, hosts, idx, cfg, job, out, states)
				if failures > maxFail {
					braked = true
					break
				}
			}
			if st.Manual && ctx.Err() == nil {
				if err := out.Pause(ctx, fmt.Sprintf("canary done on %d host(s)", plan[0])); err != nil {
					break
				}
			}
		} else if st.Pause > 0 && b < len(plan)-1 && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(st.Pause):
			}
		}
	}
	if braked && st.Rollback != nil {
		fmt.Fprintf(sys, "brake: %d failures (more than %d); rolling back %d host(s)\n", failures, maxFail, len(done))
		sort.Ints(done)
		rctx := context.WithoutCancel(ctx)
		var wg sync.WaitGroup
		sem := make(chan struct{}, parallel)
		for _, i := range done {
			sem <- struct{}{}
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				defer func() { <-sem }()
				hs := r.deployHost(rctx, hosts[i], cfg, []Step{*st.Rollback}, job, out)
				if hs.state == "ok" {
					states[i] = hostState{state: "rolled back", step: states[i].step, detail: states[i].detail}
				} else {
					states[i] = hostState{state: "rollback failed", step: hs.step, detail: hs.detail}
				}
			}(i)
		}
		wg.Wait()
	}
	summary(sys, hosts, states)
	switch {
	case ctx.Err() != nil:
		return queue.Result{}, ctx.Err()
	case braked:
		return queue.Result{Message: fmt.Sprintf("brake: %d of %d hosts failed (%s)", failures, len(hosts), failedList(hosts, states))}, nil
	case failures > 0:
		return queue.Result{OK: true, Message: fmt.Sprintf("%d host(s) failed, within max_failures", failures)}, nil
	}
	return queue.Result{OK: true}, nil
}

func failedList(hosts []host, states []hostState) string {
	var parts []string
	for i, s := range states {
		if s.step != "" && s.state != "rollback failed" {
			parts = append(parts, hosts[i].name+" at "+s.step)
		}
	}
	if len(parts) > 5 {
		parts = append(parts[:5], fmt.Sprintf("and %d more", len(parts)-5))
	}
	return strings.Join(parts, ", ")
}

// summary writes the per-host table.
func summary(w io.Writer, hosts []host, states []hostState) {
	fmt.Fprintf(w, "%-28s %-16s %s\n", "HOST", "STATE", "DETAIL")
	for i, h := range hosts {
		s := states[i]
		detail := s.detail
		if s.step != "" {
			detail = "at " + s.step + ": " + detail
		}
		fmt.Fprintf(w, "%-28s %-16s %s\n", h.name, s.state, detail)
	}
}

// bake waits st.Bake after the canary, running its "verify" step (if
// there is one) on the canary hosts a few times meanwhile; a host that
// fails it is marked failed (it stays among the done hosts, so a rollback
// covers it). It returns how many failed.
func (r *Runner) bake(ctx context.Context, st *Settings, hosts []host, canary []int, cfg *ssh.ClientConfig,
	job queue.Job, out queue.Output, states []hostState) int {
	var verify *Step
	for i := range st.Steps {
		if st.Steps[i].Name == "verify" {
			verify = &st.Steps[i]
		}
	}
	deadline := time.Now().Add(st.Bake)
	every := max(st.Bake/3, 100*time.Millisecond)
	failed := 0
	for ctx.Err() == nil {
		wait := min(every, time.Until(deadline))
		if wait <= 0 {
			break
		}
		select {
		case <-ctx.Done():
			return failed
		case <-time.After(wait):
		}
		if verify == nil {
			continue
		}
		for _, i := range canary {
			if states[i].state != "ok" {
				continue
			}
			if hs := r.deployHost(ctx, hosts[i], cfg, []Step{*verify}, job, out); hs.state != "ok" && ctx.Err() == nil {
				states[i] = hostState{state: "failed", step: "bake: verify", detail: hs.detail}
				failed++
			}
		}
	}
	return failed
}

// batches plans the rollout: the canary, then batches.
func batches(st *Settings, total int) ([]int, error) {
	canary, batch := 1, (total+3)/4
	var err error
	if st.Canary != "" {
		if canary, err = amount(st.Canary, total); err != nil {
			return nil, err
		}
	}
	if st.Batch != "" {
		if batch, err = amount(st.Batch, total); err != nil {
			return nil, err
		}
	}
	canary, batch = min(max(canary, 1), total), max(batch, 1)
	plan := []int{canary}
	for left := total - canary; left > 0; left -= batch {
		plan = append(plan, min(batch, left))
	}
	return plan, nil
}

// clientConfig returns the SSH client settings and what to close after
// the deploy.
func (r *Runner) clientConfig(st *Settings) (_ *ssh.ClientConfig, closer func() error, _ error) {
	closer = func() error { return nil }
	var signers []ssh.Signer
	for _, f := range st.KeyFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("key %s: %w", f, err)
		}
		s, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return nil, nil, fmt.Errorf("key %s: %w", f, err)
		}
		signers = append(signers, s)
	}
	// One publickey method with every key: the client tries a method once.
	keys := func() ([]ssh.Signer, error) { return signers, nil }
	if st.Agent {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return nil, nil, errors.New("agent: SSH_AUTH_SOCK is not set")
		}
		conn, err := net.Dial("unix", sock)
		if err != nil {
			return nil, nil, fmt.Errorf("agent: %w", err)
		}
		closer = conn.Close // the agent signs: it stays open for the deploy
		ag := agent.NewClient(conn)
		keys = func() ([]ssh.Signer, error) {
			more, err := ag.Signers()
			return append(append([]ssh.Signer{}, signers...), more...), err
		}
	}
	auths := []ssh.AuthMethod{ssh.PublicKeysCallback(keys)}
	var cb ssh.HostKeyCallback
	if st.InsecureIgnoreHostKey {
		if r.Warn != nil {
			r.Warn("ssh: insecure_ignore_host_key is set: host keys are NOT verified")
		}
		cb = ssh.InsecureIgnoreHostKey()
	} else {
		kh, err := knownhosts.New(st.KnownHosts)
		if err != nil {
			closer()
			return nil, nil, fmt.Errorf("known_hosts: %w", err)
		}
		cb = kh
	}
	timeout := st.ConnectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &ssh.ClientConfig{Auth: auths, HostKeyCallback: cb, Timeout: timeout}, closer, nil
}

// deployHost runs steps on one host over one connection.
func (r *Runner) deployHost(ctx context.Context, h host, base *ssh.ClientConfig, steps []Step, job queue.Job, out queue.Output) hostState {
	cfg := *base
	cfg.User = h.user
	stdout, stderr := out.Stream(queue.StreamStdout, h.name), out.Stream(queue.StreamStderr, h.name)
	defer stdout.Close()
	defer stderr.Close()
	d := net.Dialer{Timeout: cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", h.addr)
	if err != nil {
		fmt.Fprintf(stderr, "cannot connect: %v\n", err)
		return hostState{state: "unreachable", step: "connect", detail: err.Error()}
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, h.addr, &cfg)
	if err != nil {
		conn.Close()
		msg := err.Error()
		var kerr *knownhosts.KeyError
		if errors.As(err, &kerr) {
			if len(kerr.Want) == 0 {
				msg = "host key unknown: not in known_hosts"
			} else {
				msg = "host key changed: it does not match known_hosts"
			}
		}
		fmt.Fprintf(stderr, "refused: %s\n", msg)
		return hostState{state: "unreachable", step: "connect", detail: msg}
	}
	client := ssh.NewClient(c, chans, reqs)
	defer client.Close()
	env := append(runners.JobEnv(job), "DEPLOY_HOST="+h.name)
	keys := make([]string, 0, len(h.labels))
	for k := range h.labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, "DEPLOY_HOST_LABEL_"+strings.ToUpper(k)+"="+h.labels[k])
	}
	for _, step := range steps {
		var err error
		for attempt := 0; attempt <= step.Retries; attempt++ {
			if attempt > 0 {
				fmt.Fprintf(stderr, "retrying %s (%d/%d)\n", step.Name, attempt, step.Retries)
			}
			if err = runStep(ctx, client, step, env, stdout, stderr); err == nil || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "step %s failed: %v\n", step.Name, err)
			return hostState{state: "failed", step: step.Name, detail: err.Error()}
		}
	}
	return hostState{state: "ok"}
}

// runStep runs one command in a session of its own. DEPLOY_* values go as
// environment variables (SetEnv), or, where the server refuses them, as a
// quoted export prefix: never raw into the command.
func runStep(ctx context.Context, client *ssh.Client, step Step, env []string, stdout, stderr io.Writer) error {
	sess, err := client.NewSession()
	if err != nil {
		return err
	}
	defer sess.Close()
	prefix := ""
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if sess.Setenv(k, v) != nil {
			prefix += "export " + k + "=" + runners.ShellQuote(v) + "; "
		}
	}
	pg := &pgidWriter{w: stderr}
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
		return err
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		sess.Signal(ssh.SIGTERM) // honoured by sshd for non-root users
		if pgid := pg.pgid(); pgid > 1 {
			// for every user: TERM, then KILL, the step's process group
			if k, err := client.NewSession(); err == nil {
				k.Run(fmt.Sprintf("kill -TERM -- -%d 2>/dev/null; sleep 2; kill -KILL -- -%d 2>/dev/null; true", pgid, pgid))
				k.Close()
			}
		}
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
		sess.Close()
		if ctx.Err() == context.DeadlineExceeded && step.Timeout > 0 {
			return fmt.Errorf("timed out after %s", step.Timeout)
		}
		return ctx.Err()
	}
}

const pgidMarker = "deployq-pgid:"

// pgidWriter passes stderr through, but for the first line, which names
// the remote process group.
type pgidWriter struct {
	w    io.Writer
	mu   sync.Mutex
	buf  []byte
	seen bool
	id   int
}

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
