package proctest

import (
	"errors"
	"syscall"
	"testing"
)

// prSetChildSubreaper is prctl's PR_SET_CHILD_SUBREAPER.
const prSetChildSubreaper = 36

// Adopt makes the test process the subreaper of its descendants until the
// test ends: a process whose parent dies becomes the test's child instead
// of init's, so the test can reap it (Reap) as a working init would. A
// test that needs an orphan to be truly gone, not a zombie, uses it: some
// machines run a PID 1 that never reaps.
func Adopt(t testing.TB) {
	t.Helper()
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", e)
	}
	t.Cleanup(func() { syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0) })
}

// Reap collects pid if it is an exited child of the test process (an
// orphan it adopted). It reports whether pid is gone for good: reaped
// now, or no such process at all (a zombie someone else has to reap is
// not gone).
func Reap(pid int) bool {
	var ws syscall.WaitStatus
	got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	if errors.Is(err, syscall.ECHILD) {
		return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
	}
	return err == nil && got == pid
}

// KillOnCleanup ends, when the test ends, those of pids that still run,
// and reaps those the test adopted, so that a failing test leaves
// nothing behind. Its own children started with os/exec are the test's
// to wait for, not these.
func KillOnCleanup(t testing.TB, pids ...int) {
	t.Cleanup(func() {
		for _, pid := range pids {
			if Alive(pid) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil) // ECHILD unless adopted
		}
	})
}
