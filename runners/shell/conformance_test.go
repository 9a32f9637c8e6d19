package shell_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/proctest"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/internal/runnertest"
	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners/shell"
)

const sha1 = "1111111111111111111111111111111111111111"

func job(st *shell.Settings) queue.Job {
	if err := st.Validate(); err != nil {
		panic(err)
	}
	return queue.Job{DeployID: 1, Number: 1, App: "web", Env: "production", Ref: "main", SHA: sha1, User: "alice", Settings: st}
}

func TestConformance(t *testing.T) {
	runnertest.Run(t, runnertest.Harness{
		Runner:   shell.New(t.TempDir()),
		Succeeds: func(t *testing.T) queue.Job { return job(&shell.Settings{Command: "echo deploying {short_sha}"}) },
		Fails:    func(t *testing.T) queue.Job { return job(&shell.Settings{Command: "echo broken >&2; exit 3"}) },
		// a working directory that is not there: the command never starts
		CannotRun: func(t *testing.T) queue.Job { return job(&shell.Settings{Command: "true", Dir: "missing"}) },
		Long: func(t *testing.T) runnertest.Long {
			pids := filepath.Join(t.TempDir(), "pids")
			t.Cleanup(func() { killAlive(pids) })
			// the shell and a child of it, both in the deploy's group
			st := &shell.Settings{Command: fmt.Sprintf(`sleep 300 & echo $$ $! > %s; echo started; wait`, pids)}
			return runnertest.Long{
				Job:     job(st),
				Started: func(t *testing.T, out *runnertest.Recorder) { out.WaitLine(t, "started") },
				Ended:   func(t *testing.T) { noneAlive(t, proctest.Pids(t, pids)) },
			}
		},
	})
}

// noneAlive waits (bounded) until none of pids runs.
func noneAlive(t *testing.T, pids []int) {
	t.Helper()
	queuetest.EventuallyWithin(t, 10*time.Second, fmt.Sprintf("the deploy's processes %v ended", pids), func() bool {
		for _, pid := range pids {
			if proctest.Alive(pid) {
				return false
			}
		}
		return true
	})
}

// killAlive ends the processes of a pid file that still run, so that a
// failing test leaves nothing behind either.
func killAlive(file string) {
	b, _ := os.ReadFile(file)
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && proctest.Alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
