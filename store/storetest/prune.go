package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
)

// The prune cases' dates: logs of deploys that ended at old go, those of
// deploys that ended after before stay.
var (
	pruneOld    = time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	pruneNow    = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	pruneBefore = pruneNow.Add(-90 * 24 * time.Hour)
)

// pruneCases: old logs pruned to their last lines.
var pruneCases = append([]testCase{
	// An old log keeps its last Keep lines after a line saying what went
	// and when; the deploy's record stays as it was; the report counts
	// the lines and bytes of text removed.
	{"KeepsTheLastLines", func(t *testing.T, s queue.Store) {
		d := logged(t, s, "web", "prod", queue.StateFailed, pruneOld, 5000)
		p := queue.Prune{Before: pruneBefore, Keep: 100, Now: pruneNow}
		all := logLines(d.ID, 1, 5000)
		wantReport(t, "prune", prune(t, s, p), 1, all[:4900])
		lines := readLog(t, s, d.ID, 0)
		if len(lines) != 101 {
			t.Fatalf("the pruned log has %d lines, want 101", len(lines))
		}
		wantNotice(t, lines[0], p, 4900, 4901)
		sameLines(t, "the lines kept", lines[1:], all[4900:])
		if last, err := s.LastLogSeq(t.Context(), d.ID); err != nil || last != 5000 {
			t.Fatalf("last seq %d, %v; want 5000", last, err)
		}
		got, err := s.Deploy(t.Context(), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameDeploy(t, "the pruned deploy", got, d)
	}},
	// Logs of deploys that ended in any way are pruned.
	{"EveryEnd", func(t *testing.T, s queue.Store) {
		ends := []queue.State{queue.StateSucceeded, queue.StateFailed, queue.StateCanceled, queue.StateInterrupted, queue.StateSuperseded}
		var ds []*queue.Deploy
		var removed []queue.LogLine
		for _, st := range ends {
			d := logged(t, s, "web", string(st), st, pruneOld, 300)
			ds = append(ds, d)
			removed = append(removed, logLines(d.ID, 1, 290)...)
		}
		p := queue.Prune{Before: pruneBefore, Keep: 10, Now: pruneNow}
		wantReport(t, "prune", prune(t, s, p), len(ends), removed)
		for i, d := range ds {
			lines := readLog(t, s, d.ID, 0)
			if len(lines) != 11 {
				t.Fatalf("the pruned log of a %s deploy has %d lines, want 11", ends[i], len(lines))
			}
			wantNotice(t, lines[0], p, 290, 291)
			sameLines(t, "the lines kept", lines[1:], logLines(d.ID, 291, 300))
		}
	}},
	// Deploys that have not ended are never touched, whatever their times
	// say; nor are those that ended at Before or since.
	{"OnlyEndedBefore", func(t *testing.T, s queue.Store) {
		gone := logged(t, s, "web", "prod", queue.StateSucceeded, pruneBefore.Add(-time.Microsecond), 200)
		var stay []*queue.Deploy
		for _, st := range []queue.State{queue.StateWaiting, queue.StateQueued, queue.StateRunning} {
			stay = append(stay, logged(t, s, "web", string(st), st, pruneOld, 200))
		}
		stay = append(stay,
			logged(t, s, "web", "at", queue.StateSucceeded, pruneBefore, 200),
			logged(t, s, "web", "since", queue.StateFailed, pruneNow.Add(-time.Hour), 200))
		p := queue.Prune{Before: pruneBefore, Keep: 10, Now: pruneNow}
		wantReport(t, "prune", prune(t, s, p), 1, logLines(gone.ID, 1, 190))
		if lines := readLog(t, s, gone.ID, 0); len(lines) != 11 {
			t.Fatalf("the log that ended before has %d lines, want 11", len(lines))
		}
		for _, d := range stay {
			got, err := s.Deploy(t.Context(), d.ID)
			if err != nil {
				t.Fatal(err)
			}
			sameDeploy(t, "a deploy not pruned", got, d)
			sameLines(t, fmt.Sprintf("the log of a %s deploy of %s", d.State, d.Env), readLog(t, s, d.ID, 0), logLines(d.ID, 1, 200))
		}
	}},
	// Before compares as a time, to the microsecond, within a second too.
	{"BeforeWithinASecond", func(t *testing.T, s queue.Store) {
		second := pruneBefore.Truncate(time.Second)
		before := second.Add(500 * time.Millisecond)
		var gone []*queue.Deploy
		var removed []queue.LogLine
		for i, end := range []time.Time{second, before.Add(-time.Microsecond), second.Add(-time.Microsecond)} {
			gone = append(gone, logged(t, s, "web", fmt.Sprintf("gone-%d", i), queue.StateSucceeded, end, 20))
			removed = append(removed, logLines(gone[i].ID, 1, 10)...)
		}
		var stay []*queue.Deploy
		for i, end := range []time.Time{before, before.Add(time.Microsecond), second.Add(time.Second)} {
			stay = append(stay, logged(t, s, "web", fmt.Sprintf("stay-%d", i), queue.StateSucceeded, end, 20))
		}
		wantReport(t, "prune", prune(t, s, queue.Prune{Before: before, Keep: 10, Now: pruneNow}), 3, removed)
		for _, c := range []struct {
			ds    []*queue.Deploy
			lines int
			when  string
		}{{gone, 11, "before"}, {stay, 20, "not before"}} {
			for _, d := range c.ds {
				if lines := readLog(t, s, d.ID, 0); len(lines) != c.lines {
					t.Errorf("#%d ended at %s, %s %s, and has %d lines left, want %d", d.ID, d.FinishedAt.Format(time.RFC3339Nano),
						c.when, before.Format(time.RFC3339Nano), len(lines), c.lines)
				}
			}
		}
	}},
	// A log of Keep lines or fewer is not pruned, nor counted.
	{"ShortLogsStay", func(t *testing.T, s queue.Store) {
		var ds []*queue.Deploy
		for _, n := range []int{100, 30, 1, 0} {
			ds = append(ds, logged(t, s, "web", fmt.Sprintf("env%d", n), queue.StateSucceeded, pruneOld, n))
		}
		wantReport(t, "prune", prune(t, s, queue.Prune{Before: pruneBefore, Keep: 100, Now: pruneNow}), 0, nil)
		for i, n := range []int{100, 30, 1, 0} {
			sameLines(t, fmt.Sprintf("a log of %d lines", n), readLog(t, s, ds[i].ID, 0), logLines(ds[i].ID, 1, n))
		}
	}},
	// A log pruned once is not pruned again.
	{"Again", func(t *testing.T, s queue.Store) {
		d := logged(t, s, "web", "prod", queue.StateFailed, pruneOld, 500)
		p := queue.Prune{Before: pruneBefore, Keep: 100, Now: pruneNow}
		wantReport(t, "the first prune", prune(t, s, p), 1, logLines(d.ID, 1, 400))
		pruned := readLog(t, s, d.ID, 0)
		later := p
		later.Now = pruneNow.Add(24 * time.Hour)
		wantReport(t, "the second prune", prune(t, s, later), 0, nil)
		sameLines(t, "the log pruned twice", readLog(t, s, d.ID, 0), pruned)
	}},
	// Keep 0 leaves the line saying what went, alone.
	{"KeepNone", func(t *testing.T, s queue.Store) {
		d := logged(t, s, "web", "prod", queue.StateFailed, pruneOld, 300)
		p := queue.Prune{Before: pruneBefore, Keep: 0, Now: pruneNow}
		wantReport(t, "prune", prune(t, s, p), 1, logLines(d.ID, 1, 300))
		lines := readLog(t, s, d.ID, 0)
		if len(lines) != 1 {
			t.Fatalf("the log pruned to nothing has %d lines; want the one saying what went", len(lines))
		}
		wantNotice(t, lines[0], p, 300, 301)
		if last, err := s.LastLogSeq(t.Context(), d.ID); err != nil || last != 300 {
			t.Fatalf("last seq %d, %v; want 300", last, err)
		}
	}},
	// A dry run reports what the prune will do, and changes nothing.
	{"DryRun", func(t *testing.T, s queue.Store) {
		a := logged(t, s, "web", "prod", queue.StateFailed, pruneOld, 500)
		b := logged(t, s, "web", "qa", queue.StateSucceeded, pruneOld, 150)
		logged(t, s, "web", "dev", queue.StateSucceeded, pruneNow, 500)
		removed := append(logLines(a.ID, 1, 400), logLines(b.ID, 1, 50)...)
		before := snapshot(t, s)
		p := queue.Prune{Before: pruneBefore, Keep: 100, Now: pruneNow, DryRun: true}
		wantReport(t, "a dry run", prune(t, s, p), 2, removed)
		if after := snapshot(t, s); after != before {
			t.Fatalf("a dry run changed the store:\nbefore\n%s\nafter\n%s", before, after)
		}
		wantReport(t, "a second dry run", prune(t, s, p), 2, removed)
		p.DryRun = false
		wantReport(t, "the prune", prune(t, s, p), 2, removed)
	}},
	// An empty store has nothing to prune.
	{"Empty", func(t *testing.T, s queue.Store) {
		wantReport(t, "prune", prune(t, s, queue.Prune{Before: pruneNow, Keep: 100, Now: pruneNow}), 0, nil)
	}},
}, pruneFilterCases()...)

// pruneFilterCases: App and Env narrow what is pruned.
func pruneFilterCases() []testCase {
	lanes := [][2]string{{"web", "prod"}, {"web", "qa"}, {"api", "prod"}}
	var cases []testCase
	for _, c := range []struct {
		name     string
		app, env string
		want     []int // indexes into lanes
	}{
		{"Everywhere", "", "", []int{0, 1, 2}},
		{"App", "web", "", []int{0, 1}},
		{"Env", "", "prod", []int{0, 2}},
		{"AppAndEnv", "web", "prod", []int{0}},
		{"NoSuchLane", "api", "qa", nil},
	} {
		cases = append(cases, testCase{"Filter" + c.name, func(t *testing.T, s queue.Store) {
			var ds []*queue.Deploy
			for _, l := range lanes {
				ds = append(ds, logged(t, s, l[0], l[1], queue.StateSucceeded, pruneOld, 50))
			}
			var removed []queue.LogLine
			pruned := map[int]bool{}
			for _, i := range c.want {
				removed = append(removed, logLines(ds[i].ID, 1, 40)...)
				pruned[i] = true
			}
			p := queue.Prune{App: c.app, Env: c.env, Before: pruneBefore, Keep: 10, Now: pruneNow}
			wantReport(t, "prune", prune(t, s, p), len(c.want), removed)
			for i, d := range ds {
				want := 50
				if pruned[i] {
					want = 11
				}
				if lines := readLog(t, s, d.ID, 0); len(lines) != want {
					t.Fatalf("%s/%s has %d lines, want %d", d.App, d.Env, len(lines), want)
				}
			}
		}})
	}
	return cases
}

// logged returns a deploy of app to env in state st with a log of n
// lines (lineText); one that ended did so at finished. One that has not
// ended has finished as its FinishedAt all the same.
func logged(t *testing.T, s queue.Store, app, env string, st queue.State, finished time.Time, n int) *queue.Deploy {
	t.Helper()
	var d *queue.Deploy
	switch st {
	case queue.StateWaiting, queue.StateQueued, queue.StateSuperseded:
		first := st
		if st == queue.StateSuperseded {
			first = queue.StateQueued
		}
		d = newDeploy(app, env, first)
		if !st.Terminal() {
			d.FinishedAt = finished
		}
		create(t, s, d)
	default:
		d = running(t, s, app, env)
		if !st.Terminal() {
			d = move(t, s, d, queue.StateRunning, func(d *queue.Deploy) { d.FinishedAt = finished })
		}
	}
	if n > 0 {
		appendLog(t, s, logLines(d.ID, 1, n))
	}
	if st.Terminal() {
		d = move(t, s, d, st, func(d *queue.Deploy) { d.FinishedAt, d.Error = finished, "exit status 1" })
	}
	return d
}

func prune(t *testing.T, s queue.Store, p queue.Prune) queue.PruneReport {
	t.Helper()
	rep, err := s.PruneLogs(t.Context(), p)
	if err != nil {
		t.Fatalf("pruning %+v: %v", p, err)
	}
	return rep
}

// wantReport fails t unless rep counts deploys and the lines removed.
// Freed is not checked: what a database gives back is its own.
func wantReport(t *testing.T, what string, rep queue.PruneReport, deploys int, removed []queue.LogLine) {
	t.Helper()
	if rep.Deploys != deploys || rep.Lines != int64(len(removed)) || rep.Bytes != textBytes(removed) {
		t.Fatalf("%s reported %d deploys, %d lines, %d bytes; want %d, %d, %d", what,
			rep.Deploys, rep.Lines, rep.Bytes, deploys, len(removed), textBytes(removed))
	}
}

// wantNotice fails t unless l is the line saying what a prune removed:
// a system line stamped p.Now before the lines kept (the first of which
// is firstKept, or would be), with p.Now's date and the count.
func wantNotice(t *testing.T, l queue.LogLine, p queue.Prune, removed int, firstKept int64) {
	t.Helper()
	date := p.Now.UTC().Format("2006-01-02")
	if l.Stream != queue.StreamSystem || l.Seq <= 0 || l.Seq >= firstKept || !l.Time.Equal(p.Now) ||
		!strings.Contains(l.Text, date) || !strings.Contains(l.Text, fmt.Sprint(removed)) {
		t.Fatalf("the line saying what went: %+v; want a system line stamped %v, its seq in 1..%d, saying %s and %d",
			l, p.Now, firstKept-1, date, removed)
	}
}
