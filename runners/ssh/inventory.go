package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
)

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

// hosts reads the hosts of the settings: the list, then the inventory
// file, then what hosts_command prints.
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

// canaryFirst puts the hosts with the label (key=value) first, keeping
// the order otherwise, and returns how many have it: they make the canary.
func canaryFirst(hosts []host, label string) (int, error) {
	k, v, _ := strings.Cut(label, "=")
	sort.SliceStable(hosts, func(i, j int) bool { return hosts[i].labels[k] == v && hosts[j].labels[k] != v })
	n := 0
	for _, h := range hosts {
		if h.labels[k] == v {
			n++
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("canary_label %s: no host has it", label)
	}
	return n, nil
}

// env is what the steps get on a host: the job's DEPLOY_* values,
// DEPLOY_HOST and a DEPLOY_HOST_LABEL_* for each label.
func (h host) env(jobEnv []string) []string {
	env := append(append([]string{}, jobEnv...), "DEPLOY_HOST="+h.name)
	keys := make([]string, 0, len(h.labels))
	for k := range h.labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, "DEPLOY_HOST_LABEL_"+strings.ToUpper(k)+"="+h.labels[k])
	}
	return env
}
