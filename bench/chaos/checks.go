package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// checkAcknowledged: every acknowledged request is a deploy, as asked,
// and it ended.
func (v *verdict) checkAcknowledged(acks []ack, res *results) {
	for _, a := range acks {
		d := res.deploys[a.id]
		switch {
		case d == nil:
			v.lost = append(v.lost, fmt.Sprintf("#%d (%s@%s): acknowledged, and no server knows it", a.id, a.lane, a.sha[:7]))
		case d.lane() != a.lane || d.SHA != a.sha:
			v.lost = append(v.lost, fmt.Sprintf("#%d: acknowledged as %s@%s, found as %s@%s", a.id, a.lane, a.sha, d.lane(), d.SHA))
		case !d.terminal():
			v.unfinished = append(v.unfinished, fmt.Sprintf("#%d (%s): still %s", a.id, a.lane, d.State))
		}
	}
}

// checkRuns: no deploy's command started twice; a deploy that succeeded
// ran its command to its end.
func (v *verdict) checkRuns(res *results) {
	for _, id := range sortedIDs(res.marks.runs) {
		run := res.marks.runs[id]
		if len(run.starts) > 1 {
			var on []string
			for _, m := range run.starts {
				on = append(on, fmt.Sprintf("%s at %s", m.server, clock(m.at)))
			}
			v.doubleRuns = append(v.doubleRuns, fmt.Sprintf("#%d started %d times: %s", id, len(run.starts), strings.Join(on, ", ")))
		}
	}
	for _, id := range sortedIDs(res.deploys) {
		if res.deploys[id].State != "succeeded" {
			continue
		}
		run := res.marks.runs[id]
		if run == nil || !slices.ContainsFunc(run.ends, func(m mark) bool { return m.kind == "end" }) {
			v.unmarked = append(v.unmarked, fmt.Sprintf("#%d succeeded, and its command has no end mark", id))
		}
	}
}

// interval is one run of a deploy's command, from its start mark to its
// end mark, or, without one, to the deploy's finished_at.
type interval struct {
	id         int64
	start, end time.Time
	server     string
	open       bool // no end mark: ended at finished_at (or never)
}

// checkLanes: the commands of a lane's deploys never ran at once, and
// they started in the order of their ids.
func (v *verdict) checkLanes(res *results) {
	byLane := map[lane][]interval{}
	for _, id := range sortedIDs(res.marks.runs) {
		run := res.marks.runs[id]
		for i, s := range run.starts {
			iv := interval{id: id, start: s.at, server: s.server}
			switch {
			case i < len(run.ends):
				iv.end = run.ends[i].at
			case res.deploys[id] != nil && res.deploys[id].FinishedAt != nil:
				iv.end, iv.open = *res.deploys[id].FinishedAt, true
			default:
				iv.end, iv.open = time.Now(), true
			}
			byLane[s.lane] = append(byLane[s.lane], iv)
		}
	}
	for _, l := range sortedLanes(byLane) {
		ivs := byLane[l]
		slices.SortFunc(ivs, func(a, b interval) int { return a.start.Compare(b.start) })
		var last interval // the one that ends last so far
		var newest int64  // the highest id started so far
		for i, iv := range ivs {
			if i > 0 && iv.start.Before(last.end) {
				how := "end mark"
				if last.open {
					how = "finished_at, no end mark"
				}
				v.overlaps = append(v.overlaps, fmt.Sprintf("%s: #%d started on %s at %s while #%d (started on %s at %s) ran until %s (%s): %s together",
					l, iv.id, iv.server, clock(iv.start), last.id, last.server, clock(last.start), clock(last.end), how, last.end.Sub(iv.start).Round(time.Millisecond)))
			}
			if i == 0 || iv.end.After(last.end) {
				last = iv
			}
			if iv.id < newest {
				v.fifoBreaks = append(v.fifoBreaks, fmt.Sprintf("%s: #%d started at %s, after #%d", l, iv.id, clock(iv.start), newest))
			}
			newest = max(newest, iv.id)
		}
	}
}
