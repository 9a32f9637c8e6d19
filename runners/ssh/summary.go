package ssh

import (
	"fmt"
	"io"
	"strings"
)

// hostState is how a host ended.
type hostState struct {
	state  string // ok, failed, unreachable, skipped, rolled back, rollback failed
	step   string // where it failed
	detail string
	// changed: a step's command started on the host, so the deploy may
	// have changed it (a rollback covers it); a host never connected to,
	// or not reached, was not.
	changed bool
}

// summary writes the per-host table that ends the log.
func summary(w io.Writer, hosts []host, states []hostState) {
	fmt.Fprintf(w, "%-28s %-16s %s\n", "HOST", "STATE", "DETAIL")
	for i, h := range hosts {
		s := states[i]
		detail := s.detail
		if s.step != "" {
			detail = "at " + s.step + ": " + detail
		}
		fmt.Fprintf(w, "%-28s %-16s %s\n", h.name, s.state, detail)
	}
}

// failedList names the hosts that failed and where, the first five of
// them, for the deploy's error.
func failedList(hosts []host, states []hostState) string {
	var parts []string
	for i, s := range states {
		if s.step != "" && s.state != "rollback failed" {
			parts = append(parts, hosts[i].name+" at "+s.step)
		}
	}
	if len(parts) > 5 {
		parts = append(parts[:5], fmt.Sprintf("and %d more", len(parts)-5))
	}
	return strings.Join(parts, ", ")
}
