package pgtest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// dirPrefix and ownerFile mark the directories of servers, so that those
// left by a test binary that was killed are removed by the next one.
const (
	dirPrefix = "deployq-pg-"
	ownerFile = "owner.pid"
)

// runDir is where servers run: $DEPLOYQ_PG_RUN, else /dev/shm when it
// is there (a tmpfs: creating a database, thousands of small files, takes
// a tenth of the time it takes on a disk), else the temporary directory.
func runDir() string {
	if d := os.Getenv("DEPLOYQ_PG_RUN"); d != "" {
		return d
	}
	var st syscall.Statfs_t
	if syscall.Statfs("/dev/shm", &st) == nil && st.Type == tmpfsMagic && syscall.Access("/dev/shm", 0o7) == nil {
		return "/dev/shm"
	}
	return os.TempDir()
}

const tmpfsMagic = 0x01021994 // TMPFS_MAGIC of statfs(2)

// sweep removes the directories in base of servers whose test binary is
// gone (killed before Close; Pdeathsig ended the server itself), with
// the shared memory segment each server left.
func sweep(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, dirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue // its owner may live
		}
		if b, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			lines := strings.Split(string(b), "\n")
			if pm, err := strconv.Atoi(lines[0]); err == nil && syscall.Kill(pm, 0) != syscall.ESRCH {
				continue // its server has not ended yet
			}
			removeSegment(lines)
		}
		os.RemoveAll(d)
	}
}

// removeSegment removes the System V shared memory segment of a killed
// postmaster, named on line 7 of its postmaster.pid ("key id"), when
// /proc/sysvipc/shm shows it is that one: made by that postmaster, and
// with no process attached.
func removeSegment(pidfile []string) {
	if len(pidfile) < 7 {
		return
	}
	seg := strings.Fields(pidfile[6])
	b, err := os.ReadFile("/proc/sysvipc/shm")
	if len(seg) != 2 || err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		// key shmid perms size cpid lpid nattch ...
		if f := strings.Fields(line); len(f) > 6 && f[0] == seg[0] && f[1] == seg[1] && f[4] == pidfile[0] && f[6] == "0" {
			if id, err := strconv.Atoi(seg[1]); err == nil {
				const ipcRMID = 0
				syscall.Syscall(syscall.SYS_SHMCTL, uintptr(id), ipcRMID, 0)
			}
		}
	}
}
