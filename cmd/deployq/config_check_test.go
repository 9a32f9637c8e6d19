package main_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// checkConfigIn runs `deployq check-config ARGS` in dir and returns what
// it printed and its exit status.
func checkConfigIn(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"check-config"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	case err != nil:
		t.Fatalf("check-config: %v\n%s", err, out)
	}
	return string(out), 0
}

// Three mistakes in three places: each is said with its file, line and
// key, in the order of the file, and the status is 1.
func TestCheckConfigSaysEveryError(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	os.WriteFile(key, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n"), 0o600)
	cfg := `slack:
  bot_token: xoxb-1
  app_token: xapp-1
  channel: "#deploys"
apps:
  - name: web
    git: /srv/git/web.git
    environments:
      - name: production
        runner: ssh
        ssh:
          hosts: [web-1.internal]
          key_files: [id_ed25519]
          insecure_ignore_host_key: true
          steps: [{name: install, command: "deploy-app install {sha}"}]
        freeze:
          - {cron: "0 18 * * FRIDAY", duration: 62h, tz: Europe/Paris}
`
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	out, code := checkConfigIn(t, dir, "--config", "deployq.yaml")
	want := `deployq.yaml:4: slack.channel: "#deploys" is a channel's name: deployq needs its id (like C0123ABCD): in Slack, open the channel, click its name at the top, and copy the Channel ID at the bottom of the About tab
deployq.yaml:12: apps[web].environments[production].ssh: key_files[0]: id_ed25519: not a private key: ssh: no key found
deployq.yaml:17: apps[web].environments[production].freeze[0].cron: bad cron expression "0 18 * * FRIDAY": "FRIDAY" is not a day: use FRI or 5
deployq.yaml: 3 errors
`
	if code != 1 || out != want {
		t.Fatalf("exit %d:\n%s\nwant exit 1:\n%s", code, out, want)
	}
}

// A config that works but will not do all one thinks passes with a
// warning.
func TestCheckConfigWarns(t *testing.T) {
	dir := t.TempDir()
	cfg := "apps:\n  - name: web\n    environments:\n      - {name: staging, runner: shell, shell: {command: \"deploy {sha}\"}}\n"
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	out, code := checkConfigIn(t, dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "deployq.yaml:2: apps[web]: warning: web has neither git nor repo") ||
		lines[1] != "deployq.yaml: ok, 1 apps, 1 environments" {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
