package main

import (
	"slices"
	"strings"
	"time"
)

// verdict is what the checks found: each list is violations, one line
// each, and must be empty.
type verdict struct {
	lost       []string // acknowledged, and not there (or not as asked)
	unfinished []string // acknowledged, and not ended by the deadline
	doubleRuns []string // a deploy whose command started more than once
	unmarked   []string // succeeded, and its command never ran to its end
	overlaps   []string // two deploys of a lane whose commands ran at once
	fifoBreaks []string // a deploy of a lane started before an older one
	slow       []string // a dead server's deploy interrupted later than lease + poll after the fault
	notEnded   []string // a dead server's deploy that ended otherwise than interrupted after the fault
	lateWrites []string // runner lines in the log after the interruption line
	badMarks   []string
	exits      []string // a server that exited without being killed or stopped
	// An ended deploy whose GitHub deployment's last status, or whose
	// Slack card, does not show its end (see owed).
	githubMisses, slackMisses []string
	owed                      *owed

	failovers int // deploys interrupted by another server (their lease ended)
	// From a kill or stop to the interruption of the server's deploys: by
	// another server (a failover), or by the server itself when it started
	// again after a kill (a restart).
	failover, restart timing
	bound             time.Duration
	// onLive are the deploys interrupted while their server was neither
	// killed nor stopped: not a violation, but worth a look.
	onLive []string
}

// timing is the worst of some durations, and how many there were.
type timing struct {
	worst time.Duration
	of    string
	n     int
}

func (t *timing) add(d time.Duration, of string) {
	t.n++
	if d > t.worst {
		t.worst, t.of = d, of
	}
}

func (v *verdict) ok() bool {
	for _, l := range v.lists() {
		if len(l.items) > 0 {
			return false
		}
	}
	return true
}

// violations are the violations of one kind.
type violations struct {
	name  string
	items []string
}

// lists names the violation lists, in the order they are said.
func (v *verdict) lists() []violations {
	return []violations{
		{"lost", v.lost}, {"unfinished", v.unfinished}, {"double runs", v.doubleRuns},
		{"succeeded without a run", v.unmarked}, {"overlaps", v.overlaps}, {"FIFO breaks", v.fifoBreaks},
		{"slow failovers", v.slow}, {"dead servers' deploys not interrupted", v.notEnded},
		{"late writes", v.lateWrites}, {"unreadable marks", v.badMarks}, {"servers that exited by themselves", v.exits},
		{"GitHub statuses missing or wrong", v.githubMisses}, {"Slack cards missing or wrong", v.slackMisses},
	}
}

// check runs every check on what the run left, and on what the fakes
// showed of it.
func check(o options, r *runResult, res *results, ow *owed) *verdict {
	v := &verdict{bound: o.lease + o.poll, badMarks: res.marks.bad, exits: res.exits,
		githubMisses: ow.github.misses, slackMisses: ow.slack.misses, owed: ow}
	v.checkAcknowledged(r.load.acks, res)
	v.checkRuns(res)
	v.checkLanes(res)
	v.checkFailovers(r.faults, res)
	v.checkLogs(res)
	return v
}

func clock(t time.Time) string { return t.Format("15:04:05.000") }

func clockp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return clock(*t)
}

func sortedIDs[V any](m map[int64]V) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func sortedLanes[V any](m map[lane]V) []lane {
	ls := make([]lane, 0, len(m))
	for l := range m {
		ls = append(ls, l)
	}
	slices.SortFunc(ls, func(a, b lane) int { return strings.Compare(a.String(), b.String()) })
	return ls
}
