package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// leftovers lists the processes that carry this run's token in their
// environment: the servers, and the deploy commands they started, which
// outlive a server killed with SIGKILL. Nothing else carries it.
func leftovers(token string) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err == nil && pid != os.Getpid() && carries(pid, token) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// carries reports whether process pid has the run's token in its
// environment.
func carries(pid int, token string) bool {
	env, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		return false // gone
	}
	want := []byte(runEnv + "=" + token)
	for _, kv := range bytes.Split(env, []byte{0}) {
		if bytes.Equal(kv, want) {
			return true
		}
	}
	return false
}

// killPid ends one process that leftovers found, through a handle on it
// (a pidfd) taken before it is checked once more: a pid reused meanwhile
// is never hit.
func killPid(pid int, token string) {
	p, err := os.FindProcess(pid)
	if err != nil {
		return
	}
	defer p.Release()
	if carries(pid, token) {
		p.Signal(syscall.SIGKILL)
	}
}
