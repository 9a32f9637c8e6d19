package ssh_test

import (
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/proctest"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/internal/runnertest"
	"github.com/deployq/deployq/internal/sshfleet"
	"github.com/deployq/deployq/queue"
	sshrunner "github.com/deployq/deployq/runners/ssh"
)

func job(s *sshrunner.Settings) queue.Job {
	return queue.Job{DeployID: 1, Number: 1, App: "web", Env: "production", Ref: "main", SHA: sha1, User: "alice", Settings: s}
}

func TestConformance(t *testing.T) {
	runnertest.Run(t, runnertest.Harness{
		Runner:   sshrunner.New(nil),
		Succeeds: func(t *testing.T) queue.Job { return job(settings(newFleet(t, 2), nil)) },
		Fails: func(t *testing.T) queue.Job {
			return job(settings(newFleet(t, 2), func(s *sshrunner.Settings) {
				s.Steps = []sshrunner.Step{{Name: "install", Command: "echo broken >&2; exit 3"}}
			}))
		},
		// host keys cannot be verified without the known_hosts file, gone
		// since the config was checked
		CannotRun: func(t *testing.T) queue.Job {
			s := settings(newFleet(t, 1), nil)
			s.KnownHosts = filepath.Join(t.TempDir(), "missing")
			return job(s)
		},
		Long: func(t *testing.T) runnertest.Long {
			f := newFleet(t, 2)
			t.Cleanup(func() { killRemote(f) })
			st := settings(f, func(s *sshrunner.Settings) {
				s.Canary = "2" // both hosts at once
				s.Steps = []sshrunner.Step{{Name: "serve", Command: `echo $$ > "$HOSTDIR/pid"; echo started; exec sleep 300`}}
			})
			return runnertest.Long{
				Job:     job(st),
				Started: func(t *testing.T, out *runnertest.Recorder) { out.WaitLine(t, "started", 2) },
				Ended:   func(t *testing.T) { remoteEnded(t, f.Hosts...) },
			}
		},
	})
}

// remoteEnded waits (bounded) until the process each host's step wrote
// in its pid file is gone.
func remoteEnded(t *testing.T, hosts ...*sshfleet.Host) {
	t.Helper()
	for _, h := range hosts {
		pid := remotePid(h)
		if pid == 0 {
			t.Fatalf("%s: no pid file", h.Name)
		}
		queuetest.EventuallyWithin(t, 10*time.Second, fmt.Sprintf("the remote command on %s (pid %d) ended", h.Name, pid), func() bool {
			return !proctest.Alive(pid)
		})
	}
}

// killRemote ends the steps' processes that still run, so that a failing
// test leaves nothing behind either (the hosts are this machine).
func killRemote(f *sshfleet.Fleet) {
	for _, h := range f.Hosts {
		if pid := remotePid(h); pid > 1 && proctest.Alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func remotePid(h *sshfleet.Host) int {
	pid, _ := strconv.Atoi(h.File("pid"))
	return pid
}
