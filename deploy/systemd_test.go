package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deployq/deployq/runners"
)

const unitPath = "deploy/deployq.service"

// unit is a systemd unit file: section, key, the values in order (a key
// may be given more than once).
type unit map[string]map[string][]string

func parseUnit(t *testing.T, text string) unit {
	t.Helper()
	u := unit{}
	section := ""
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		case section == "":
			t.Fatalf("%s:%d: %q outside a section", unitPath, i+1, line)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || strings.HasSuffix(line, "\\") {
				t.Fatalf("%s:%d: %q: want KEY=VALUE on one line", unitPath, i+1, line)
			}
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
	}
	return u
}

// get is the value in force of a key: the last one.
func (u unit) get(section, key string) (string, bool) {
	vs := u[section][key]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// execStart is the unit's ExecStart, split into words.
func (u unit) execStart(t *testing.T) []string {
	t.Helper()
	v, _ := u.get("Service", "ExecStart")
	argv := strings.Fields(v)
	if len(argv) == 0 || !filepath.IsAbs(argv[0]) {
		t.Fatalf("ExecStart=%s: want an absolute path and its arguments", v)
	}
	return argv
}

// withBinary is the unit with its ExecStart's program replaced by bin,
// written as deployq.service in a directory of its own.
func withBinary(t *testing.T, text, bin string) string {
	t.Helper()
	prog := parseUnit(t, text).execStart(t)[0]
	path := filepath.Join(t.TempDir(), "deployq.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, "ExecStart="+prog+" ", "ExecStart="+bin+" ")), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func needSystemdAnalyze(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("DEPLOYQ_SYSTEMD_REQUIRED") != "" {
			t.Fatal("no systemd-analyze (apt-get install systemd)")
		}
		t.Skip("no systemd-analyze (apt-get install systemd)")
	}
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the unit, its
// ExecStart pointed at a real deployq binary: it must say nothing.
func TestSystemdUnitVerifies(t *testing.T) {
	needSystemdAnalyze(t)
	path := withBinary(t, read(t, unitPath), deployq(t))
	cmd := exec.Command("systemd-analyze", "verify", path)
	cmd.Dir = filepath.Dir(path)
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", unitPath, err, out)
	}
}

// TestSystemdUnitHardening checks the settings that make the unit what
// it says, and systemd's own rating of its exposure.
func TestSystemdUnitHardening(t *testing.T) {
	text := read(t, unitPath)
	u := parseUnit(t, text)
	want := map[string]string{
		"User":                   "deployq",
		"Group":                  "deployq",
		"StateDirectory":         "deployq",
		"WorkingDirectory":       "/var/lib/deployq",
		"ConfigurationDirectory": "deployq",
		"Environment":            "HOME=/var/lib/deployq",
		"EnvironmentFile":        "-/etc/deployq/deployq.env",
		"ProtectSystem":          "strict",
		"ProtectHome":            "yes",
		"PrivateTmp":             "yes",
		"NoNewPrivileges":        "yes",
		"CapabilityBoundingSet":  "",
		"AmbientCapabilities":    "",
		"RestrictSUIDSGID":       "yes",
		"SystemCallFilter":       "@system-service",
		"Restart":                "on-failure",
		"KillSignal":             "SIGTERM",
		"KillMode":               "mixed",
	}
	for k, v := range want {
		if got, ok := u.get("Service", k); !ok || got != v {
			t.Errorf("[Service] %s=%s (set: %v): want %s=%s", k, got, ok, k, v)
		}
	}
	if argv := u.execStart(t); strings.Join(argv[1:], " ") != "serve --config /etc/deployq/deployq.yaml" {
		t.Errorf("ExecStart=%s: want deployq serve --config /etc/deployq/deployq.yaml", strings.Join(argv, " "))
	}
	if got, _ := u.get("Install", "WantedBy"); got != "multi-user.target" {
		t.Errorf("[Install] WantedBy=%s: want multi-user.target", got)
	}
	// deployq gives its deploys' commands kill_grace after SIGTERM, and its
	// HTTP clients a moment: systemd must wait longer than that.
	stop := timeoutStop(t, u)
	if min := runners.DefaultGrace + 20*time.Second; stop < min {
		t.Errorf("TimeoutStopSec=%s: want at least %s (the default kill_grace, %s, and the rest of the stop)", stop, min, runners.DefaultGrace)
	}

	needSystemdAnalyze(t)
	path := withBinary(t, text, deployq(t))
	// exposure 0 (locked down) to 10 (none); the threshold is in tenths
	out, err := exec.Command("systemd-analyze", "security", "--offline=yes", "--threshold=20", path).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security: %v: want an exposure of 2.0 or less\n%s", err, lastLines(string(out), 40))
	}
}

func timeoutStop(t *testing.T, u unit) time.Duration {
	t.Helper()
	v, _ := u.get("Service", "TimeoutStopSec")
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("TimeoutStopSec=%s: want a duration such as 90s", v)
	}
	return d
}

var signals = map[string]syscall.Signal{"SIGTERM": syscall.SIGTERM, "SIGINT": syscall.SIGINT, "SIGQUIT": syscall.SIGQUIT, "SIGKILL": syscall.SIGKILL}

// TestSystemdUnitStartsAndStops runs the unit's ExecStart as systemd
// would (in its WorkingDirectory, with its Environment), the config it
// names replaced by a test's, then stops it with its KillSignal: it must
// serve, and exit cleanly within TimeoutStopSec.
func TestSystemdUnitStartsAndStops(t *testing.T) {
	u := parseUnit(t, read(t, unitPath))
	argv := u.execStart(t)
	argv[0] = deployq(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "deployq.yaml")
	replaced := false
	for i, a := range argv {
		if a == "/etc/deployq/deployq.yaml" {
			argv[i], replaced = cfg, true
		}
	}
	if !replaced {
		t.Fatalf("ExecStart=%s does not name /etc/deployq/deployq.yaml", strings.Join(argv, " "))
	}
	// data_dir is relative: it lands in WorkingDirectory
	if err := os.WriteFile(cfg, []byte("server:\n  listen: 127.0.0.1:0\n  data_dir: data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, e := range u["Service"]["Environment"] {
		env = append(env, strings.Fields(e)...)
	}
	wd, _ := u.get("Service", "WorkingDirectory")
	if wd != "/var/lib/deployq" {
		t.Fatalf("WorkingDirectory=%s: want the state directory, /var/lib/deployq", wd)
	}
	srv, url := start(t, dir, env, argv...)
	healthy(t, url)
	if _, err := os.Stat(filepath.Join(dir, "data", "deployq.db")); err != nil {
		t.Errorf("no database in the working directory's data: %v", err)
	}
	name, _ := u.get("Service", "KillSignal")
	sig, ok := signals[name]
	if !ok {
		t.Fatalf("KillSignal=%s: not one of %v", name, signals)
	}
	if err := srv.stop(t, sig, timeoutStop(t, u)); err != nil {
		t.Fatalf("deployq exited with %v on %s: want a clean stop\n%s", err, name, srv.out)
	}
	if !strings.Contains(srv.out.String(), "stopping") {
		t.Errorf("deployq did not say it was stopping:\n%s", srv.out)
	}
}
