package runners_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/proctest"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/runners"
)

// TestMain also plays, when asked, the part of a server that runs one
// deploy: with RUNNERS_TEST_TRACK set, the test binary runs
// RUNNERS_TEST_COMMAND with RunGroup, tracked in that file, until a test
// kills it.
func TestMain(m *testing.M) {
	if track := os.Getenv("RUNNERS_TEST_TRACK"); track != "" {
		cmd := exec.Command("/bin/sh", "-c", os.Getenv("RUNNERS_TEST_COMMAND"))
		runners.RunGroup(context.Background(), cmd, os.Stdout, os.Stderr, time.Second, track)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The server dies under a deploy; the deploy's leader exits afterwards
// (and is reaped), its children live on. ReapGroups ends them: a child
// vouches for the group with the token in its environment.
func TestReapGroupsWithoutTheLeader(t *testing.T) {
	proctest.Adopt(t) // the orphaned leader is reaped, as by a working init
	dir := t.TempDir()
	track := filepath.Join(dir, "groups", "deploy-1.pgid")
	leaderFile, childFile, gate := filepath.Join(dir, "leader"), filepath.Join(dir, "children"), filepath.Join(dir, "gate")
	if err := syscall.Mkfifo(gate, 0o600); err != nil {
		t.Fatal(err)
	}
	// the leader waits at the gate, a fifo, until the test opens it
	script := fmt.Sprintf(`(sleep 300 & echo $! >> %[1]s; wait) & echo $! >> %[1]s; echo $$ > %[2]s.new; mv %[2]s.new %[2]s; read x < %[3]s`,
		childFile, leaderFile, gate)
	server := exec.Command(os.Args[0], "-test.run=^$")
	server.Env = append(os.Environ(), "RUNNERS_TEST_TRACK="+track, "RUNNERS_TEST_COMMAND="+script)
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Process.Kill(); server.Wait() })
	queuetest.Eventually(t, "the deploy runs, tracked", func() bool {
		b, _ := os.ReadFile(childFile)
		_, terr := os.Stat(track)
		_, lerr := os.Stat(leaderFile)
		return bytes.Count(b, []byte("\n")) == 2 && terr == nil && lerr == nil
	})
	leader, children := proctest.Pids(t, leaderFile)[0], proctest.Pids(t, childFile)
	proctest.KillOnCleanup(t, append(children, leader)...)

	server.Process.Kill() // SIGKILL: no cleanup of its own
	server.Wait()
	// the leader wrote its pid a moment before it opens the gate to read:
	// until it has, opening the other end says ENXIO
	queuetest.Eventually(t, "the leader at its gate", func() bool {
		g, err := os.OpenFile(gate, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			g.Close()
		}
		return err == nil
	})
	queuetest.Eventually(t, fmt.Sprintf("the leader %d exited and was reaped", leader), func() bool { return proctest.Reap(leader) })
	for _, pid := range children {
		if !proctest.Alive(pid) {
			t.Fatalf("the child %d did not outlive its leader", pid)
		}
	}

	if killed := runners.ReapGroups(filepath.Dir(track)); !slices.Equal(killed, []int{leader}) {
		t.Fatalf("ReapGroups killed %v, want the group %d", killed, leader)
	}
	for _, pid := range children {
		queuetest.EventuallyWithin(t, 10*time.Second, fmt.Sprintf("the leftover %d ended", pid), func() bool { return !proctest.Alive(pid) })
	}
	if _, err := os.Stat(track); !os.IsNotExist(err) {
		t.Errorf("the track file is still there: %v", err)
	}
}

// A recorded group whose id has gone to someone else is left alone: a
// group whose leader started at another time, and a group whose leader is
// gone and whose processes carry another group's token.
func TestReapGroupsSparesOthers(t *testing.T) {
	proctest.Adopt(t)
	dir := t.TempDir()

	led := exec.Command("sleep", "300")
	led.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := led.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Process.Kill(); led.Wait() })
	start, err := runners.StartTime(led.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	runners.WriteTrack(filepath.Join(dir, "deploy-1.pgid"), led.Process.Pid, start-1, "token-of-deploy-1")

	leaderless := exec.Command("/bin/sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!")
	leaderless.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	leaderless.Env = append(os.Environ(), "DEPLOYQ_GROUP=token-of-another-deploy", "DEPLOY_ID=2")
	out, err := leaderless.Output() // its leader exits and is reaped here
	if err != nil {
		t.Fatal(err)
	}
	child, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	proctest.KillOnCleanup(t, child)
	childStart, err := runners.StartTime(child)
	if err != nil {
		t.Fatal(err)
	}
	// the child started after the recorded leader: only the token tells
	runners.WriteTrack(filepath.Join(dir, "deploy-2.pgid"), leaderless.Process.Pid, childStart-1, "token-of-deploy-2")

	if killed := runners.ReapGroups(dir); len(killed) != 0 {
		t.Fatalf("ReapGroups killed %v, groups that are not the deploys'", killed)
	}
	if !proctest.Alive(led.Process.Pid) || !proctest.Alive(child) {
		t.Fatalf("a process of someone else's group was killed: %d alive %v, %d alive %v",
			led.Process.Pid, proctest.Alive(led.Process.Pid), child, proctest.Alive(child))
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.pgid")); len(left) != 0 {
		t.Errorf("track files left: %v", left)
	}
}
