package main_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/gittest"
	"github.com/deployq/deployq/internal/pgtest"
	"github.com/deployq/deployq/internal/proctest"
	"github.com/deployq/deployq/internal/queuetest"
)

var (
	buildFlags []string
	binary     string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "deployq-e2e")
	if err != nil {
		panic(err)
	}
	// deployq, and deployq-kubernetes next to it, where deployq finds it.
	binary = filepath.Join(dir, "deployq")
	args := append([]string{"build"}, buildFlags...)
	build := exec.Command("go", append(args, "-o", dir+string(filepath.Separator), ".", "../deployq-kubernetes")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building deployq:", err)
		os.Exit(1)
	}
	code := pgtest.Run(m) // the PostgreSQL of the tests that use one is stopped
	os.RemoveAll(dir)
	os.Exit(code)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type server struct {
	cmd    *exec.Cmd
	url    string
	stderr *syncBuffer
	done   chan struct{}
}

// startServer runs `deployq serve` in dir on a free port and waits until it
// says where it listens.
func startServer(t testing.TB, dir string, env []string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	s := &server{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = s.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.stop(t) })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "deployq listening on "); ok {
			s.url = u
			break
		}
	}
	if s.url == "" {
		t.Fatalf("server did not start:\n%s", s.stderr.String())
	}
	go io.Copy(io.Discard, out)
	return s
}

// stop ends the server it started (by pid) and waits for it.
func (s *server) stop(t testing.TB) {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		t.Errorf("server ignored SIGTERM:\n%s", s.stderr.String())
	}
}

// cli runs a client command against the server.
func (s *server) cli(t testing.TB, env []string, stdin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), append([]string{"DEPLOYQ_SERVER=" + s.url}, env...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Fatalf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

const deployScript = `#!/bin/sh
echo "deploying $(cat VERSION) to $1 as $DEPLOY_USER"
echo "key=$API_KEY"
`

func TestEndToEnd(t *testing.T) {
	repo := gittest.New(t)
	repo.Commit("one", map[string]string{"VERSION": "1", "deploy.sh": deployScript})
	repo.Tag("v1", "")
	repo.Commit("two", map[string]string{"VERSION": "2"})
	repo.Tag("v2", "")

	dir := t.TempDir()
	cfg := fmt.Sprintf(`server:
  data_dir: ./data
  api_tokens:
    - {name: alice, token: "${ALICE_TOKEN}"}
    - {name: bob, token: "${BOB_TOKEN}"}
apps:
  - name: web
    git: %s
    default_env: staging
    environments:
      - name: staging
        runner: shell
        shell: {command: "./deploy.sh {env}", checkout: true, env: {API_KEY: "${DEPLOY_API_KEY}"}}
      - name: production
        runner: shell
        shell: {command: "./deploy.sh {env}", checkout: true}
`, repo.Bare)
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	secrets := []string{"ALICE_TOKEN=alice-token-0123456789", "BOB_TOKEN=bob-token-0123456789ab", "DEPLOY_API_KEY=sk-live-very-secret"}
	alice, bob := []string{"DEPLOYQ_TOKEN=alice-token-0123456789"}, []string{"DEPLOYQ_TOKEN=bob-token-0123456789ab"}

	t.Run("check-config", func(t *testing.T) {
		cmd := exec.Command(binary, "check-config", "--config", "deployq.yaml")
		cmd.Dir, cmd.Env = dir, append(os.Environ(), secrets...)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "deployq.yaml: ok, 1 apps, 2 environments") {
			t.Fatalf("%v %s", err, out)
		}
		bad := strings.Replace(cfg, "runner: shell\n        shell: {command: \"./deploy.sh {env}\", checkout: true}", "runner: shel", 1)
		os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(bad), 0o644)
		cmd = exec.Command(binary, "check-config", "--config", "bad.yaml")
		cmd.Dir, cmd.Env = dir, append(os.Environ(), secrets...)
		out, err = cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), `bad.yaml:15: apps[web].environments[production].runner: unknown runner "shel"`) {
			t.Fatalf("%v %s", err, out)
		}
	})

	s := startServer(t, dir, secrets)

	out, code := s.cli(t, alice, "", "deploy", "--follow", "web@v1", "to", "staging")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	mustContain(t, "deploy --follow", out, "#1 queued: web@v1", "stdout deploying 1 to staging as alice", "key=********", "#1 succeeded")
	if strings.Contains(out, "sk-live") {
		t.Fatal("secret in the log")
	}

	out, code = s.cli(t, alice, "", "lock", "production", ":", "release", "freeze")
	if code != 0 || !strings.Contains(out, "locked production by alice") {
		t.Fatalf("lock: %d %s", code, out)
	}
	out, code = s.cli(t, bob, "", "deploy", "web", "to", "production")
	if code != 1 || !regexp.MustCompile(`production is locked by alice \(\d+s ago\): release freeze`).MatchString(out) {
		t.Fatalf("deploy to a locked env: %d %s", code, out)
	}
	out, code = s.cli(t, bob, "", "deploy", "web@main;reboot")
	if code != 1 || !strings.Contains(out, `invalid ref "main;reboot"`) {
		t.Fatalf("bad ref: %d %s", code, out)
	}
	out, _ = s.cli(t, nil, "", "queue")
	mustContain(t, "queue without a token", out, "missing or unknown bearer token")

	out, code = s.cli(t, bob, "deploy web@v2\nwhere web\nrollback web\nhistory web\nqueue\ndeploy wbe\nhelp\n", "chat")
	if code != 0 {
		t.Fatalf("chat: %d %s", code, out)
	}
	mustContain(t, "chat", out,
		"#2 queued: web@v2", "deploying 2 to staging as bob", "#2 succeeded",
		"staging: ", "production: never deployed [locked by alice",
		"#3 rollback queued: web", "deploying 1 to staging as bob", "#3 succeeded",
		"#3 staging succeeded", `unknown app "wbe" (apps: web)`, "rollback APP [in ENV]")

	out, _ = s.cli(t, alice, "", "queue")
	mustContain(t, "queue", out, "web  staging", "#3", "alice: release freeze")
	out, _ = s.cli(t, alice, "", "logs", "2")
	mustContain(t, "logs", out, "deploying 2 to staging as bob")
	out, code = s.cli(t, alice, "", "cancel", "2")
	if code != 1 || !strings.Contains(out, "deploy #2 already succeeded") {
		t.Fatalf("cancel: %d %s", code, out)
	}
	out, code = s.cli(t, alice, "", "unlock", "production")
	if code != 0 || !strings.Contains(out, "unlocked production (held by alice)") {
		t.Fatalf("unlock: %d %s", code, out)
	}
	out, code = s.cli(t, bob, "", "deploy", "-f", "web", "to", "production")
	if code != 0 || !strings.Contains(out, "deploying 2 to production as bob") {
		t.Fatalf("deploy after unlock: %d %s", code, out)
	}

	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	mustContain(t, "metrics", string(b), `deployq_deploys_total{state="succeeded"} 4`)
}

// kill -9 of the server in the middle of a deploy: after a restart the
// deploy is interrupted and its processes are gone, the queued deploys run
// once each, nothing is lost.
func TestKill9Recovery(t *testing.T) {
	dir := t.TempDir()
	cfg := `apps:
  - name: web
    environments:
      - name: staging
        runner: shell
        shell:
          command: |
            echo started >> ../../../started-$DEPLOY_ID
            if [ "$DEPLOY_ID" = 1 ]; then sleep 300 & echo $! > ../../../child; echo $$ >> ../../../child; wait; fi
            echo "done $DEPLOY_ID"
`
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	s := startServer(t, dir, nil)
	shas := []string{strings.Repeat("a", 40), strings.Repeat("b", 40), strings.Repeat("c", 40)}
	for i, sha := range shas {
		out, code := s.cli(t, nil, "", "deploy", "web@"+sha)
		if code != 0 || !strings.Contains(out, fmt.Sprintf("#%d queued", i+1)) {
			t.Fatalf("%d %s", code, out)
		}
	}
	waitFile(t, filepath.Join(dir, "child"))
	if err := s.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	<-s.done
	children := proctest.Pids(t, filepath.Join(dir, "child"))
	t.Cleanup(func() { // even when the test fails, leave nothing behind
		for _, pid := range children {
			if proctest.Alive(pid) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})

	s2 := startServer(t, dir, nil)
	out, code := s2.cli(t, nil, "", "logs", "-f", "1")
	if code != 1 || !strings.Contains(out, "deployq stopped while this deploy ran") || !strings.Contains(out, "#1 interrupted") {
		t.Fatalf("#1: %d %s", code, out)
	}
	for _, id := range []string{"2", "3"} {
		out, code := s2.cli(t, nil, "", "logs", "-f", id)
		if code != 0 || !strings.Contains(out, "done "+id) {
			t.Fatalf("#%s: %d %s", id, code, out)
		}
	}
	for _, id := range []string{"1", "2", "3"} {
		b, _ := os.ReadFile(filepath.Join(dir, "started-"+id))
		if strings.Count(string(b), "started") != 1 {
			t.Fatalf("#%s started %d times", id, strings.Count(string(b), "started"))
		}
	}
	for _, pid := range children {
		if proctest.Alive(pid) {
			t.Errorf("process %d of the interrupted deploy survived the restart", pid)
		}
	}
	mustContain(t, "server log", s2.stderr.String(), "deploy interrupted by a restart", "ended process groups left by deploys")
}

func TestDemoStarts(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, nil)
	out, code := s.cli(t, nil, "", "deploy", "--follow", "web@v1.0.0")
	if code != 0 {
		t.Fatalf("%d %s", code, out)
	}
	mustContain(t, "demo deploy", out, "==> build", "web 1.0.0 is live in staging", "#1 succeeded")
}

// waitFile waits until the deploy script has written its two pids to path.
func waitFile(t *testing.T, path string) {
	t.Helper()
	queuetest.Eventually(t, path+" lists two pids", func() bool {
		b, err := os.ReadFile(path)
		return err == nil && bytes.Count(b, []byte("\n")) >= 2
	})
}

// SIGTERM while someone follows a running deploy: the deploy ends as
// interrupted, its processes are gone, the follower is told so.
func TestGracefulStopTellsFollowers(t *testing.T) {
	dir := t.TempDir()
	cfg := `apps:
  - name: web
    environments:
      - name: staging
        runner: shell
        shell: {command: "sleep 300 & echo $! > ../../../child; echo $$ >> ../../../child; echo started; wait"}
`
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	s := startServer(t, dir, nil)
	if out, code := s.cli(t, nil, "", "deploy", "web@"+strings.Repeat("d", 40)); code != 0 {
		t.Fatalf("%d %s", code, out)
	}
	waitFile(t, filepath.Join(dir, "child"))
	children := proctest.Pids(t, filepath.Join(dir, "child"))
	follow := exec.Command(binary, "logs", "-f", "1")
	follow.Env = append(os.Environ(), "DEPLOYQ_SERVER="+s.url)
	var out syncBuffer
	follow.Stdout, follow.Stderr = &out, &out
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	queuetest.Eventually(t, "the follower sees the deploy start", func() bool { return strings.Contains(out.String(), "started") })
	s.stop(t)
	err := follow.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("follower: %v\n%s", err, out.String())
	}
	mustContain(t, "follower", out.String(), "deploy #1 interrupted", "#1 interrupted\n")
	for _, pid := range children {
		if proctest.Alive(pid) {
			t.Errorf("process %d survived the stop", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
