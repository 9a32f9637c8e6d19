package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Step is one command run on every host.
type Step struct {
	// Name says which step a host failed at, in the log and the summary.
	Name string `yaml:"name"`
	// Command is run by the login shell of the host, with the DEPLOY_*
	// values in its environment.
	Command string `yaml:"command"`
	// Timeout ends the step, and fails the host, after this long (0: none).
	Timeout time.Duration `yaml:"timeout"`
	// Retries is how many times a failed step runs again on that host.
	Retries int `yaml:"retries"`
}

// Settings are an environment's ssh runner settings.
type Settings struct {
	// Hosts are [user@]host[:port], each optionally followed by labels
	// (key=value).
	Hosts []string `yaml:"hosts"`
	// Inventory is a file of hosts, one a line, # comments.
	Inventory string `yaml:"inventory"`
	// HostsCommand prints the hosts, one a line (a dynamic inventory).
	HostsCommand string `yaml:"hosts_command"`
	// Agent also uses the keys of the ssh-agent at $SSH_AUTH_SOCK.
	Agent bool `yaml:"agent"`
	// User is the login of hosts without user@ (default root).
	User string `yaml:"user"`
	// KeyFiles are private keys, unencrypted.
	KeyFiles []string `yaml:"key_files"`
	// KnownHosts is the known_hosts file host keys are verified against.
	KnownHosts string `yaml:"known_hosts"`
	// InsecureIgnoreHostKey skips host key verification; the runner warns
	// at every deploy.
	InsecureIgnoreHostKey bool `yaml:"insecure_ignore_host_key"`
	// Canary is the first batch, alone: a count or a percentage (default 1).
	Canary string `yaml:"canary"`
	// CanaryLabel, key=value, makes the hosts with this label the canary.
	CanaryLabel string `yaml:"canary_label"`
	// Batch is the size of the batches after the canary: a count or a
	// percentage (default 25%).
	Batch string `yaml:"batch"`
	// Bake is how long to wait after the canary, running its verify step
	// again meanwhile.
	Bake time.Duration `yaml:"bake"`
	// Pause is the wait between batches.
	Pause time.Duration `yaml:"pause"`
	// Parallel is how many hosts of a batch are worked on at once
	// (default 10).
	Parallel int `yaml:"parallel"`
	// MaxFailures is the brake: more failed hosts than this, a count or a
	// percentage of all hosts, stop the rollout (default 0).
	MaxFailures string `yaml:"max_failures"`
	// Manual pauses after the canary until someone continues the deploy.
	Manual bool `yaml:"manual"`
	// ConnectTimeout bounds each connection (default 10s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// Steps run on each host, in order, over one connection.
	Steps []Step `yaml:"steps"`
	// Rollback runs when the brake trips, on every host the deploy
	// changed: those done, and those that failed after a step started
	// there (it must cope with a half-done install). Hosts not reached
	// are not touched.
	Rollback *Step `yaml:"rollback"`
}

// Validate checks the settings, and that what a first deploy reads is
// there: hosts that parse, an inventory, key files and known_hosts that
// exist and parse, placeholders that exist. Each problem is one of the
// errors joined.
func (s *Settings) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(s.Hosts) == 0 && s.Inventory == "" && s.HostsCommand == "" {
		add("hosts, inventory or hosts_command is required")
	}
	for i, line := range s.Hosts {
		if err := checkHost(line); err != nil {
			add("hosts[%d]: %v", i, err)
		}
	}
	if s.Inventory != "" {
		errs = append(errs, s.checkInventory()...)
	}
	switch {
	case s.KnownHosts == "" && !s.InsecureIgnoreHostKey:
		add("known_hosts is required (host keys are verified)")
	case s.KnownHosts != "":
		if _, err := knownhosts.New(s.KnownHosts); err != nil {
			add("known_hosts: %v", err)
		}
	}
	if len(s.KeyFiles) == 0 && !s.Agent {
		add("key_files or agent is required")
	}
	for i, f := range s.KeyFiles {
		if err := checkKeyFile(f); err != nil {
			add("key_files[%d]: %v", i, err)
		}
	}
	if len(s.Steps) == 0 {
		add("steps are required")
	}
	for _, st := range append(append([]Step{}, s.Steps...), s.rollbackSteps()...) {
		if st.Command == "" {
			add("step %q has no command", st.Name)
		} else if _, err := runners.ExpandShell(st.Command, runners.Placeholders(queue.Job{})); err != nil {
			add("step %q: %v", st.Name, err)
		}
	}
	if s.CanaryLabel != "" {
		if k, _, ok := strings.Cut(s.CanaryLabel, "="); !ok || !labelKeyRe.MatchString(k) {
			add("canary_label %q: want key=value", s.CanaryLabel)
		}
	}
	for _, v := range []struct{ name, val string }{{"canary", s.Canary}, {"batch", s.Batch}, {"max_failures", s.MaxFailures}} {
		if v.val != "" {
			if _, err := amount(v.val, 100); err != nil {
				add("%s: %v", v.name, err)
			}
		}
	}
	if n, err := amount(s.Canary, 100); s.Canary != "" && err == nil && n == 0 && s.Bake > 0 && s.CanaryLabel == "" {
		add("canary %s with bake %s: there is no canary to bake (a rollout still starts with one host alone); set canary to 1 or more, or remove bake",
			s.Canary, s.Bake)
	}
	return errors.Join(errs...)
}

// checkHost checks a host line: [user@]host[:port] with a port of
// 1-65535, then labels.
func checkHost(line string) error {
	h, err := parseHost(line, "")
	if err != nil {
		return err
	}
	_, port, err := net.SplitHostPort(h.addr)
	if p, perr := strconv.Atoi(port); err != nil || perr != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%s: want [user@]host[:port] with a port of 1-65535", h.name)
	}
	return nil
}

// checkInventory checks that the inventory file can be read and that each
// of its host lines parses.
func (s *Settings) checkInventory() []error {
	b, err := os.ReadFile(s.Inventory)
	if err != nil {
		return []error{fmt.Errorf("inventory: %w", err)}
	}
	var errs []error
	for i, l := range strings.Split(string(b), "\n") {
		if l, _, _ = strings.Cut(l, "#"); strings.TrimSpace(l) != "" {
			if err := checkHost(strings.TrimSpace(l)); err != nil {
				errs = append(errs, fmt.Errorf("inventory %s:%d: %v", s.Inventory, i+1, err))
			}
		}
	}
	return errs
}

// checkKeyFile checks that a private key file can be read and parses as
// an unencrypted key.
func checkKeyFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	_, err = ssh.ParsePrivateKey(b)
	var encrypted *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &encrypted):
		return fmt.Errorf("%s is encrypted: deployq needs an unencrypted key (or agent: true)", path)
	case err != nil:
		return fmt.Errorf("%s: not a private key: %v", path, err)
	}
	return nil
}

// Probe implements config.Prober for check-config --online: it connects
// to each host as a deploy would, checks the host's key against
// known_hosts and logs in, and opens no session: nothing runs there.
func (s *Settings) Probe(ctx context.Context, report func(what string, err error)) {
	hosts, err := s.hosts(ctx)
	if err != nil {
		report("hosts", err)
		return
	}
	cfg, closeAuth, err := (&Runner{}).clientConfig(s)
	if err != nil {
		report("keys", err)
		return
	}
	defer closeAuth()
	errs := make([]error, len(hosts))
	slots := make(chan struct{}, max(s.Parallel, 10))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			errs[i] = probeHost(ctx, h, cfg)
		})
	}
	wg.Wait()
	found := "host key in known_hosts, login accepted"
	if s.InsecureIgnoreHostKey {
		found = "host key NOT verified (insecure_ignore_host_key), login accepted"
	}
	for i, h := range hosts {
		what := h.user + "@" + h.addr
		if errs[i] == nil {
			what += ": " + found
		}
		report(what, errs[i])
	}
}

// probeHost connects and logs in to h, then hangs up; a host that does
// not answer by the end of ctx is given up on.
func probeHost(ctx context.Context, h host, cfg *ssh.ClientConfig) error {
	type result struct {
		c  *ssh.Client
		st *hostState
	}
	done := make(chan result, 1)
	go func() {
		c, st := dial(ctx, h, cfg, io.Discard)
		done <- result{c, st}
	}()
	select {
	case r := <-done:
		if r.st != nil {
			return errors.New(r.st.detail)
		}
		r.c.Close()
		return nil
	case <-ctx.Done():
		go func() {
			if r := <-done; r.c != nil {
				r.c.Close()
			}
		}()
		return fmt.Errorf("no answer in time: %w", ctx.Err())
	}
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
