package runners

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// groupEnv names the environment variable that carries a tracked group's
// token to every process of the group: children inherit it, so it marks
// the deploy's processes even after the group's leader is gone.
const groupEnv = "DEPLOYQ_GROUP"

// groupRecord is what RunGroup writes in a track file while a group runs:
// the group's id (its leader's pid), its leader's start time, and the
// token in its processes' environment.
type groupRecord struct {
	pgid  int
	start uint64 // clock ticks after boot
	token string
}

func (g groupRecord) write(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, fmt.Appendf(nil, "%d %d %s\n", g.pgid, g.start, g.token), 0o644)
}

// readRecord reads a track file. A file written before groups carried a
// token has none: then only the leader can vouch for its group.
func readRecord(path string) (groupRecord, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return groupRecord{}, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 || len(f) > 3 {
		return groupRecord{}, fmt.Errorf("%s: bad track file", path)
	}
	var g groupRecord
	if g.pgid, err = strconv.Atoi(f[0]); err != nil || g.pgid <= 1 {
		return groupRecord{}, fmt.Errorf("%s: bad process group %q", path, f[0])
	}
	if g.start, err = strconv.ParseUint(f[1], 10, 64); err != nil {
		return groupRecord{}, fmt.Errorf("%s: bad start time %q", path, f[1])
	}
	if len(f) == 3 {
		g.token = f[2]
	}
	return g, nil
}

// ReapGroups ends the process groups recorded in dir by RunGroup's track
// files: groups of deploys whose server died. The group's leader may be
// gone while its children live on, and its id may since have gone to
// someone else, so a group is killed only on the word of a witness: a
// process of the group that is provably the deploy's, either the recorded
// leader itself (same start time) or a process that carries the group's
// token in its environment and started no earlier than the leader. The
// witness is stopped before the group is killed: while it lives, the
// group's id cannot be handed to anyone else. A group none of whose
// processes can vouch for it is left alone. ReapGroups returns the pgids
// it killed.
func ReapGroups(dir string) []int {
	files, _ := filepath.Glob(filepath.Join(dir, "*.pgid"))
	var killed []int
	for _, f := range files {
		g, err := readRecord(f)
		os.Remove(f)
		if err == nil && g.reap() {
			killed = append(killed, g.pgid)
		}
	}
	return killed
}

// reap kills the group if one of its processes vouches for it.
func (g groupRecord) reap() bool {
	if g.pgid == syscall.Getpgrp() {
		return false
	}
	for _, pid := range groupMembers(g.pgid) {
		// On Linux this holds a pidfd: its signals reach this very
		// process or none, whatever becomes of the pid.
		p, err := os.FindProcess(pid)
		if err != nil {
			continue
		}
		if !g.vouches(pid) || p.Signal(syscall.SIGSTOP) != nil {
			p.Release()
			continue // not the deploy's, or gone since it was read
		}
		// Stopped (or a zombie), the witness stays in the group: check it
		// did not leave it before the stop, then end the group, witness
		// included.
		if st, err := readStat(pid); err == nil && st.pgrp == g.pgid && syscall.Kill(-g.pgid, syscall.SIGKILL) == nil {
			p.Release()
			return true
		}
		p.Signal(syscall.SIGCONT)
		p.Release()
	}
	return false
}

// vouches reports whether process pid is provably one of the group's
// processes: the recorded leader, or a later process with its token.
func (g groupRecord) vouches(pid int) bool {
	st, err := readStat(pid)
	if err != nil {
		return false
	}
	if pid == g.pgid && st.start == g.start {
		return true
	}
	if g.token == "" || st.start < g.start {
		return false
	}
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	want := []byte(groupEnv + "=" + g.token)
	for kv := range bytes.SplitSeq(env, []byte{0}) {
		if bytes.Equal(kv, want) {
			return true
		}
	}
	return false
}

// groupMembers lists the processes whose process group is pgid, its
// leader first if it is there.
func groupMembers(pgid int) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil && st.pgrp == pgid {
			if pid == pgid {
				pids = append([]int{pid}, pids...)
			} else {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// procStat is what deployq reads of /proc/PID/stat.
type procStat struct {
	pgrp  int
	start uint64 // clock ticks after boot
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold anything
	if i < 0 {
		return procStat{}, errors.New("bad stat")
	}
	// after the name: state ppid pgrp ... starttime (the 20th)
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return procStat{}, errors.New("bad stat")
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return procStat{}, err
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, err
	}
	return procStat{pgrp: pgrp, start: start}, nil
}

// startTime returns a process's start time in clock ticks after boot.
func startTime(pid int) (uint64, error) {
	st, err := readStat(pid)
	return st.start, err
}
