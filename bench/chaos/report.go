package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// maxSaid is how many violations of a kind are said one by one.
const maxSaid = 10

// print says the figures, then each violation, then the verdict.
func (v *verdict) print(o options, r *runResult, res *results, c *cluster, took time.Duration) {
	count := func(kind string) (n int) {
		for _, f := range r.faults {
			if f.kind == kind {
				n++
			}
		}
		return n
	}
	crashes, terminated := 0, 0
	for _, f := range r.faults {
		if f.crash {
			crashes++
		}
		terminated += f.terminated
	}
	states := map[string]int{}
	acked := map[int64]bool{}
	for _, a := range r.load.acks {
		acked[a.id] = true
		if d := res.deploys[a.id]; d != nil {
			states[d.State]++
		}
	}
	unacked := 0
	for id := range res.deploys {
		if !acked[id] {
			unacked++
		}
	}
	l := r.load
	fmt.Println()
	row := func(name, format string, args ...any) { fmt.Printf("%-22s %s\n", name, fmt.Sprintf(format, args...)) }
	row("requests", "%d", l.sent)
	row("acknowledged", "%d (refused %d, given up %d; %d attempts failed and were retried elsewhere%s)",
		len(l.acks), len(l.refused), l.gaveUp, l.retries(), parenthesized(l.failureSummary()))
	row("acknowledged ended", "%s", stateSummary(states))
	row("deploys", "%d (%d not acknowledged: a timed-out attempt that went through)", len(res.deploys), unacked)
	row("runs", "%d (deploys whose command started)", len(res.marks.runs))
	row("kills", "%d", count(faultKill))
	row("pauses", "%d (SIGSTOP for %s each)", count(faultStop), o.pause)
	row("connection terms", "%d (%d connections ended)", count(faultTerminate), terminated)
	row("database restarts", "%d (%d of them crashes)", count(faultDBRestart), crashes)
	row("failovers", "%d (deploys interrupted by another server: their lease ended)", v.failovers)
	row("worst failover", "%s; bound lease + poll = %s", v.failover.say("failovers after a kill or stop"), v.bound.Round(time.Millisecond))
	row("worst restart", "%s", v.restart.say("interrupted by their own server started again after a kill"))
	row("live interrupted", "%d (deploys interrupted while their server was neither killed nor stopped)", len(v.onLive))
	row("double runs", "%d", len(v.doubleRuns))
	row("overlaps", "%d", len(v.overlaps))
	row("FIFO breaks", "%d", len(v.fifoBreaks))
	row("lost", "%d", len(v.lost))
	row("unfinished", "%d", len(v.unfinished))
	row("late writes", "%d", len(v.lateWrites))
	row("slow failovers", "%d", len(v.slow))
	row("server crashes", "%d (exited without being killed or stopped)", len(v.exits))
	row("not interrupted", "%d (a dead server's deploy that ended otherwise)", len(v.notEnded))
	gh, sl := v.owed.github, v.owed.slack
	row("GitHub statuses owed", "%d, missing/wrong: %d (duplicated deployments: %d, %d of them left behind)", gh.owed, len(gh.misses), gh.dups, gh.stale)
	row("Slack cards owed", "%d, missing/wrong: %d (duplicated cards: %d, %d of them left behind)", sl.owed, len(sl.misses), sl.dups, sl.stale)
	if len(gh.misses)+len(sl.misses) == 0 {
		row("owed sent", "all, seen %s after the deploys ended were read (read every %s)", v.owed.took.Round(time.Millisecond), owedPoll)
	} else {
		row("owed sent", "not all within %s after the deploys ended were read", v.owed.took.Round(time.Second))
	}
	row("GitHub heard", "%s%s", stateSummary(c.github.heardCalls()), parenthesizedAs("not found", c.github.unknownCalls()))
	row("Slack heard", "%s%s", stateSummary(c.slack.heardCalls()), parenthesizedAs("unknown_method", c.slack.unknownCalls()))
	row("took", "%s, seed %d", took.Round(time.Second), o.seed)
	for _, refused := range l.refused[:min(len(l.refused), maxSaid)] {
		fmt.Println("refused:", refused)
	}
	if len(v.onLive) > 0 {
		fmt.Printf("\ninterrupted on live servers (not a check; worth a look): %d\n", len(v.onLive))
		for _, item := range v.onLive[:min(len(v.onLive), maxSaid)] {
			fmt.Println("  " + item)
		}
	}
	failed := false
	for _, list := range v.lists() {
		if len(list.items) == 0 {
			continue
		}
		failed = true
		fmt.Printf("\n%s: %d\n", list.name, len(list.items))
		for _, item := range list.items[:min(len(list.items), maxSaid)] {
			fmt.Println("  " + item)
		}
		if len(list.items) > maxSaid {
			fmt.Printf("  and %d more\n", len(list.items)-maxSaid)
		}
	}
	if failed {
		fmt.Println("\nFAIL")
	} else {
		fmt.Println("\nok")
	}
}

// stateSummary says how many ended in each state: "succeeded 280,
// interrupted 18".
func stateSummary(states map[string]int) string {
	keys := make([]string, 0, len(states))
	for k := range states {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return states[b] - states[a] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, states[k]))
	}
	return strings.Join(parts, ", ")
}

// parenthesizedAs is " (what: s)", or "" when s is.
func parenthesizedAs(what, s string) string {
	if s == "" {
		return ""
	}
	return " (" + what + ": " + s + ")"
}

func parenthesized(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

// say is "1.932s (#90, SIGSTOP of deployq-3; 3 failovers after a kill or
// stop)", or "- (none)" when there were none.
func (t timing) say(what string) string {
	if t.n == 0 {
		return "- (none)"
	}
	return fmt.Sprintf("%s (%s; %d %s)", t.worst.Round(time.Millisecond), t.of, t.n, what)
}
