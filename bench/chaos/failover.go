package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// checkFailovers: the deploys a server ran when it was killed or stopped
// were interrupted within lease + poll of the fault, unless they ended
// before it. The failovers are the deploys interrupted because their
// lease ended.
func (v *verdict) checkFailovers(faults []*fault, res *results) {
	dead := map[int64]bool{}
	for _, f := range faults {
		if !f.dead() {
			continue
		}
		for _, was := range f.deploys {
			d := res.deploys[was.ID]
			what := fmt.Sprintf("#%d (running on %s at its %s at %s)", was.ID, f.server.name, f.what(), clock(f.at))
			switch {
			case d == nil:
				continue // said lost
			case d.FinishedAt != nil && d.FinishedAt.Before(f.at):
				continue // it ended just before the fault
			case d.State != "interrupted" || d.FinishedAt == nil:
				v.notEnded = append(v.notEnded, fmt.Sprintf("%s ended %s at %s: %s", what, d.State, clockp(d.FinishedAt), d.Error))
				continue
			}
			dead[d.ID] = true
			took := d.FinishedAt.Sub(f.at)
			of := fmt.Sprintf("#%d, %s of %s", d.ID, f.what(), f.server.name)
			if failedOver(d) {
				v.failover.add(took, of)
			} else {
				v.restart.add(took, of)
			}
			if took > v.bound {
				v.slow = append(v.slow, fmt.Sprintf("%s interrupted %s after it (bound %s): %s", what, took.Round(time.Millisecond), v.bound, d.Error))
			}
		}
	}
	for _, id := range sortedIDs(res.deploys) {
		d := res.deploys[id]
		if d.State != "interrupted" {
			continue
		}
		if failedOver(d) {
			v.failovers++
		}
		if !dead[id] {
			v.onLive = append(v.onLive, fmt.Sprintf("#%d on %s, interrupted at %s%s: %s", id, d.Server, clockp(d.FinishedAt), after(faults, d.FinishedAt), d.Error))
		}
	}
}

// failedOver reports whether another server interrupted d: its lease
// ended.
func failedOver(d *apiDeploy) bool { return strings.Contains(d.Error, "stopped renewing") }

// after says the last fault before t: " (1.2s after the PostgreSQL
// restart)".
func after(faults []*fault, t *time.Time) string {
	if t == nil {
		return ""
	}
	var last *fault
	for _, f := range faults {
		if f.at.Before(*t) {
			last = f
		}
	}
	if last == nil {
		return ""
	}
	what := last.what()
	if last.server != nil {
		what += " of " + last.server.name
	}
	return fmt.Sprintf(" (%s after the %s)", t.Sub(last.at).Round(time.Millisecond), what)
}

// checkLogs: no runner line was stored after the line that says a deploy
// was interrupted (a server that lost the deploy writes nothing more).
func (v *verdict) checkLogs(res *results) {
	for _, id := range sortedIDs(res.logs) {
		lines := res.logs[id]
		at := slices.IndexFunc(lines, interruption)
		if at < 0 {
			v.lateWrites = append(v.lateWrites, fmt.Sprintf("#%d is interrupted and its log never says so (%d lines)", id, len(lines)))
			continue
		}
		var late []string
		for _, l := range lines[at+1:] {
			if l.runner() {
				late = append(late, fmt.Sprintf("%s %q", l.stream, l.text))
			}
		}
		if len(late) > 0 {
			v.lateWrites = append(v.lateWrites, fmt.Sprintf("#%d: %d runner lines after %q: %s", id, len(late), lines[at].text, strings.Join(late, ", ")))
		}
	}
}

// interruption reports whether a log line is deployq saying the deploy
// is interrupted.
func interruption(l logLine) bool {
	t := strings.ToLower(l.text)
	return l.stream == "system" && (strings.Contains(t, "interrupt") || strings.Contains(t, "stopped renewing"))
}
