package ssh

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
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
