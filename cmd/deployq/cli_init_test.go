package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	main "github.com/deployq/deployq/cmd/deployq"
	"github.com/deployq/deployq/config"
	"github.com/deployq/deployq/internal/gittest"
)

// `deployq init` writes, for each runner, a config that check-config
// passes as written, with the app, repository and runner it was given.
func TestInitPassesCheckConfig(t *testing.T) {
	for _, runner := range []string{"shell", "ssh", "kubernetes", "marathon"} {
		t.Run(runner, func(t *testing.T) {
			dir := t.TempDir()
			out, code := run(t, dir, "init", "--app", "api", "--repo", "acme/api", "--runner", runner)
			if code != 0 || !strings.Contains(out, "wrote deployq.yaml: app api, runner "+runner) {
				t.Fatalf("init: exit %d\n%s", code, out)
			}
			out, code = run(t, dir, "check-config")
			if code != 0 || !strings.Contains(out, "deployq.yaml: ok, 1 apps, 2 environments") {
				t.Fatalf("check-config: exit %d\n%s", code, out)
			}
			cfg, err := config.Load(filepath.Join(dir, "deployq.yaml"), main.Kinds)
			if err != nil {
				t.Fatal(err)
			}
			a := cfg.Apps[0]
			if a.Name != "api" || a.Repo != "acme/api" || a.Git != "https://github.com/acme/api.git" || a.DefaultEnv != "staging" {
				t.Fatalf("app: %+v", a)
			}
			for i, name := range []string{"staging", "production"} {
				if e := a.Environments[i]; e.Name != name || e.Runner != runner {
					t.Fatalf("environment %d: %s on %s", i, e.Name, e.Runner)
				}
			}
			b, _ := os.ReadFile(filepath.Join(dir, "deployq.yaml"))
			if strings.Count(string(b), "\n#") < 10 {
				t.Fatalf("a starter config explains itself in comments:\n%s", b)
			}
		})
	}
}

// The ssh starter verifies host keys against a known_hosts next to the
// config, which init creates empty, never over one that exists.
func TestInitSSHKnownHosts(t *testing.T) {
	dir := t.TempDir()
	etc := filepath.Join(dir, "etc")
	os.Mkdir(etc, 0o755)
	known := filepath.Join(etc, "known_hosts")
	os.WriteFile(known, []byte("web-1 ssh-ed25519 AAAA\n"), 0o644)
	cfg := filepath.Join(etc, "deployq.yaml")
	out, code := run(t, dir, "init", "--runner", "ssh", "--config", cfg)
	if code != 0 || strings.Contains(out, "known_hosts, empty") {
		t.Fatalf("init: exit %d\n%s", code, out)
	}
	if b, _ := os.ReadFile(known); string(b) != "web-1 ssh-ed25519 AAAA\n" {
		t.Fatalf("init changed the known_hosts there: %q", b)
	}
	b, _ := os.ReadFile(cfg)
	if !strings.Contains(string(b), `known_hosts: "`+known+`"`) {
		t.Fatalf("the config does not name %s:\n%s", known, b)
	}

	os.Remove(known)
	if out, code := run(t, dir, "init", "--runner", "ssh", "--config", cfg, "--force"); code != 0 || !strings.Contains(out, "wrote "+known+", empty") {
		t.Fatalf("init: exit %d\n%s", code, out)
	}
	if b, err := os.ReadFile(known); err != nil || len(b) != 0 {
		t.Fatalf("known_hosts: %q, %v", b, err)
	}
}

// init refuses to overwrite a config unless --force, and refuses names
// the config would refuse.
func TestInitRefuses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "deployq.yaml")
	os.WriteFile(path, []byte("mine\n"), 0o644)
	out, code := run(t, dir, "init")
	if code != 1 || !strings.Contains(out, "deployq.yaml exists: --force overwrites it") {
		t.Fatalf("init over a file: exit %d\n%s", code, out)
	}
	if b, _ := os.ReadFile(path); string(b) != "mine\n" {
		t.Fatalf("the file was changed: %q", b)
	}
	if out, code := run(t, dir, "init", "--force"); code != 0 {
		t.Fatalf("init --force: exit %d\n%s", code, out)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "name: web") {
		t.Fatalf("--force did not overwrite:\n%s", b)
	}
	for _, args := range [][]string{{"--app", "Web App"}, {"--repo", "acme"}, {"--runner", "docker"}, {"stray"}} {
		out, code := run(t, t.TempDir(), append([]string{"init"}, args...)...)
		if code != 2 || !strings.Contains(out, "usage: deployq init") {
			t.Errorf("init %v: exit %d\n%s", args, code, out)
		}
	}
}

// The shell starter, given where the app's git is, deploys as written:
// its command runs the repository's deploy.sh in a checkout of the sha.
func TestInitShellDeploys(t *testing.T) {
	repo := gittest.New(t)
	repo.Commit("one", map[string]string{"deploy.sh": "#!/bin/sh\necho \"deploying $2 to $1\"\n"})
	repo.Tag("v1", "")
	dir := t.TempDir()
	if out, code := run(t, dir, "init", "--app", "api", "--git", repo.Bare); code != 0 {
		t.Fatalf("init: exit %d\n%s", code, out)
	}
	s := startServer(t, dir, nil)
	out, code := s.cli(t, nil, "", "deploy", "--follow", "api@v1")
	if code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	mustContain(t, "the deploy", out, "#1 queued: api@v1", "deploying ", " to staging", "#1 succeeded")
}
