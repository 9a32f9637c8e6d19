package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The faults, by the name -faults takes.
const (
	faultKill      = "kill"      // kill -9 a server, start it again (same name, data directory and port)
	faultStop      = "stop"      // SIGSTOP a server past its lease, then SIGCONT
	faultTerminate = "terminate" // pg_terminate_backend the connections of one server
	faultDBRestart = "dbrestart" // restart PostgreSQL (a fast shutdown, or every other time a crash)
)

var faultKinds = []string{faultKill, faultStop, faultTerminate, faultDBRestart}

// parseFaults reads -faults: kinds separated by commas, or none.
func parseFaults(s string) ([]string, error) {
	if s == "" || s == "none" {
		return nil, nil
	}
	var kinds []string
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		if !slices.Contains(faultKinds, k) {
			return nil, fmt.Errorf("unknown fault %q (faults: %s)", k, strings.Join(faultKinds, ", "))
		}
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	return kinds, nil
}

// fault is one fault injected.
type fault struct {
	kind   string
	server *server // nil for dbrestart
	at     time.Time
	// deploys ran on server just before the fault (kill, stop): the API
	// said them running there.
	deploys    []*apiDeploy
	back       time.Duration // until the server started again, was continued, or PostgreSQL took connections again
	terminated int           // connections ended (terminate)
	crash      bool          // dbrestart: an immediate shutdown, not a fast one
}

// what says the fault in a few words.
func (f *fault) what() string {
	switch f.kind {
	case faultKill:
		return "kill -9"
	case faultStop:
		return "SIGSTOP"
	case faultTerminate:
		return "pg_terminate_backend"
	default:
		return "PostgreSQL restart"
	}
}

// dead reports whether the fault left the server's leases to end: its
// deploys must be interrupted by another.
func (f *fault) dead() bool { return f.kind == faultKill || f.kind == faultStop }

// describe is the line said when a fault is over.
func (in *injector) describe(f *fault) string {
	at := fmt.Sprintf("%7.1fs", f.at.Sub(in.start).Seconds())
	switch f.kind {
	case faultKill:
		return fmt.Sprintf("%s kill -9 %s (running %s), started again after %s", at, f.server.name, ids(f.deploys), f.back.Round(100*time.Millisecond))
	case faultStop:
		return fmt.Sprintf("%s SIGSTOP %s (running %s), SIGCONT after %s", at, f.server.name, ids(f.deploys), f.back.Round(100*time.Millisecond))
	case faultTerminate:
		return fmt.Sprintf("%s pg_terminate_backend: %d connections of %s", at, f.terminated, f.server.name)
	default:
		how := "fast shutdown"
		if f.crash {
			how = "crash"
		}
		return fmt.Sprintf("%s PostgreSQL restarted (%s), took connections again after %s", at, how, f.back.Round(100*time.Millisecond))
	}
}

// ids says deploys by id: "#4, #7", or "nothing".
func ids(ds []*apiDeploy) string {
	if len(ds) == 0 {
		return "nothing"
	}
	var s []string
	for _, d := range ds {
		s = append(s, fmt.Sprintf("#%d", d.ID))
	}
	return strings.Join(s, ", ")
}
