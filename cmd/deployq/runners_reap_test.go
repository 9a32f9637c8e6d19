package main_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/proctest"
	"github.com/deployq/deployq/internal/queuetest"
)

// kill -9 of the server while a deploy runs `(sleep; ...) &`; the deploy's
// leader exits after the server died (and is reaped), its child lives on.
// The next start ends the child, which never finishes its work, and the
// deploy is interrupted.
func TestKill9ReapsLeftoversOfAGoneLeader(t *testing.T) {
	proctest.Adopt(t) // the orphaned leader is reaped, as by a working init
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	if err := syscall.Mkfifo(gate, 0o600); err != nil {
		t.Fatal(err)
	}
	// The leader waits at the gate, a fifo, until the test opens it.
	cfg := fmt.Sprintf(`apps:
  - name: web
    environments:
      - name: staging
        runner: shell
        shell:
          command: |
            (sleep 300 & echo $! >> %[1]s/children; wait; echo done > %[1]s/done) &
            echo $! >> %[1]s/children
            echo $$ > %[1]s/leader.new; mv %[1]s/leader.new %[1]s/leader
            read x < %[1]s/gate
`, dir)
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	s := startServer(t, dir, nil)
	if out, code := s.cli(t, nil, "", "deploy", "web@"+strings.Repeat("a", 40)); code != 0 {
		t.Fatalf("%d %s", code, out)
	}
	queuetest.Eventually(t, "the deploy started its child and said who leads", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "children"))
		_, err := os.Stat(filepath.Join(dir, "leader"))
		return bytes.Count(b, []byte("\n")) == 2 && err == nil
	})
	leader := proctest.Pids(t, filepath.Join(dir, "leader"))[0]
	children := proctest.Pids(t, filepath.Join(dir, "children"))
	proctest.KillOnCleanup(t, append(children, leader)...)

	if err := s.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	<-s.done
	g, err := os.OpenFile(gate, os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatalf("the leader is not at its gate: %v", err)
	}
	g.Close()
	queuetest.Eventually(t, fmt.Sprintf("the leader %d exited and was reaped", leader), func() bool { return proctest.Reap(leader) })
	for _, pid := range children {
		if !proctest.Alive(pid) {
			t.Fatalf("the child %d did not outlive its leader", pid)
		}
	}

	s2 := startServer(t, dir, nil)
	for _, pid := range children {
		queuetest.EventuallyWithin(t, 10*time.Second, fmt.Sprintf("the leftover %d ended", pid), func() bool { return !proctest.Alive(pid) })
	}
	if _, err := os.Stat(filepath.Join(dir, "done")); !os.IsNotExist(err) {
		t.Fatalf("the leftover finished its work: %v", err)
	}
	out, code := s2.cli(t, nil, "", "logs", "-f", "1")
	if code != 1 || !strings.Contains(out, "#1 interrupted") {
		t.Fatalf("#1: %d %s", code, out)
	}
	mustContain(t, "server log", s2.stderr.String(), "ended process groups left by deploys", fmt.Sprintf("pgids=[%d]", leader))
}
