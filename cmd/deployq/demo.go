package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/deployq/deployq/config"
)

const demoScript = `#!/bin/sh
# The demo's deploy script: deployq runs it in a checkout of the sha.
set -e
env="$1"; sha="$2"
echo "deploying $DEPLOY_APP $(echo "$sha" | cut -c1-7) ($DEPLOY_REF) to $env for $DEPLOY_USER"
for step in fetch build migrate switch verify; do
	echo "==> $step"
	sleep 1
	echo "    $step ok"
done
echo "$DEPLOY_APP $(cat VERSION) is live in $env"
`

// demoRepo creates a local git repository with three versions of a demo
// app, once.
func demoRepo(ctx context.Context, dir string) (string, error) {
	bare := filepath.Join(dir, "demo", "web.git")
	if _, err := os.Stat(bare); err == nil {
		return filepath.Abs(bare)
	}
	work := filepath.Join(dir, "demo", "web-work")
	os.RemoveAll(work)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "", err
	}
	git := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-c", "user.name=deployq demo",
			"-c", "user.email=demo@deployq.invalid", "-c", "init.defaultBranch=main"}, args...)...)
		cmd.Dir = work
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %v: %v: %s", args, err, out)
		}
		return nil
	}
	if err := git("init", "--quiet"); err != nil {
		return "", err
	}
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		if err := os.WriteFile(filepath.Join(work, "deploy.sh"), []byte(demoScript), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(work, "VERSION"), []byte(v+"\n"), 0o644); err != nil {
			return "", err
		}
		if err := git("add", "."); err != nil {
			return "", err
		}
		if err := git("commit", "--quiet", "-m", "web "+v); err != nil {
			return "", err
		}
		if err := git("tag", "v"+v); err != nil {
			return "", err
		}
	}
	if err := git("clone", "--quiet", "--bare", ".", filepath.Join("..", "web.git")); err != nil {
		return "", err
	}
	os.RemoveAll(work)
	return filepath.Abs(bare)
}

func demoConfig(ctx context.Context, dataDir, listen string) (*config.Config, error) {
	repo, err := demoRepo(ctx, dataDir)
	if err != nil {
		return nil, err
	}
	if listen == "" {
		listen = "127.0.0.1:8080"
	}
	yaml := fmt.Sprintf(`
server:
  listen: %q
  data_dir: %q
  max_parallel: 4
apps:
  - name: web
    git: %q
    default_ref: main
    default_env: staging
    environments:
      - name: staging
        runner: shell
        shell: {command: "./deploy.sh {env} {sha}", checkout: true}
        timeout: 10m
        idle_timeout: 2m
      - name: production
        runner: shell
        shell: {command: "./deploy.sh {env} {sha}", checkout: true}
        timeout: 10m
        idle_timeout: 2m
`, listen, dataDir, repo)
	return config.Parse("(demo)", []byte(yaml), kinds)
}

// printDemo introduces the demo served at base. Its commands name the
// server when it is not where the client looks by default.
func printDemo(w io.Writer, base string) {
	cli := "./bin/deployq"
	if base != defaultServer {
		cli += " --server " + base
	}
	fmt.Fprintf(w, `
This is the demo: app "web" (a local git repo with tags v1.0.0, v1.1.0, v1.2.0)
deploys to "staging" and "production" with a shell script. Try, in another shell:

  %[1]s deploy --follow web@v1.1.0 to staging
  %[1]s chat          (then: deploy web to production, queue, where web, help)
  curl -s %[2]s/api/v1/environments

Data lives in ./data. Ctrl-C stops the server.
`, cli, base)
}
