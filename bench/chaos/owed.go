package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// owed is what the fake GitHub and Slack show of the deploys that ended:
// every one is owed a GitHub deployment whose last status is its end,
// and a Slack card in its environment's channel that shows its end last.
type owed struct {
	github, slack owedKind
	took          time.Duration // from the start of the wait to all sent, or to the deadline
}

// owedKind is what one of them owes.
type owedKind struct {
	owed   int
	misses []string // a deploy whose end was not shown, one line each
	// dups are the deploys with more than one GitHub deployment or Slack
	// card; stale, those of them with one that does not show the end.
	dups, stale int
}

// owedPoll is how often what the fakes heard is read again.
const owedPoll = 200 * time.Millisecond

// outboxClaim is how long a server holds what it took from the outbox: a
// message a server took and did not send (it was killed, or stopped)
// goes out after that, from another server.
const outboxClaim = time.Minute

// owedWait is how long the owed messages are waited for once the deploys
// ended: a claim of the outbox, or five leases, and half a minute more.
func owedWait(o options) time.Duration { return max(o.lease*5, outboxClaim) + 30*time.Second }

// awaitOwed waits, up to owedWait, for the fakes to have heard the end of
// every deploy that ended, and says what they show then.
func awaitOwed(ctx context.Context, c *cluster, r *runResult, res *results, o options) *owed {
	wait := owedWait(o)
	fmt.Printf("%7.1fs waiting up to %s for the GitHub statuses and Slack cards owed\n", time.Since(r.start).Seconds(), wait)
	start := time.Now()
	deadline := start.Add(wait)
	tick := time.NewTicker(owedPoll)
	defer tick.Stop()
	for {
		ow := readOwed(c, res)
		ow.took = time.Since(start)
		missing := len(ow.github.misses) + len(ow.slack.misses)
		if missing == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			fmt.Printf("%7.1fs %d GitHub statuses and %d Slack cards owed, %d and %d of them missing or wrong\n",
				time.Since(r.start).Seconds(), ow.github.owed, ow.slack.owed, len(ow.github.misses), len(ow.slack.misses))
			return ow
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// readOwed compares what the fakes heard so far with the deploys' ends.
func readOwed(c *cluster, res *results) *owed {
	deployments, statuses := c.github.snapshot()
	return &owed{github: githubOwed(res.deploys, deployments, statuses), slack: slackOwed(res.deploys, c.slack.heard())}
}

// ended are the deploys with an end state, by id (operations, which get
// no GitHub deployment, are none of them: none is asked here).
func ended(deploys map[int64]*apiDeploy) []*apiDeploy {
	var ds []*apiDeploy
	for _, id := range sortedIDs(deploys) {
		if d := deploys[id]; d.terminal() && d.Op == "" {
			ds = append(ds, d)
		}
	}
	return ds
}

// githubOwed: the last status GitHub heard for the deployments of each
// ended deploy (the deployments whose payload names it) is its end.
func githubOwed(deploys map[int64]*apiDeploy, deployments map[int64]githubDeployment, statuses []githubStatus) owedKind {
	of := map[int64][]int64{} // deploy -> its deployments
	for _, id := range sortedIDs(deployments) {
		if d := deployments[id]; d.deploy != 0 {
			of[d.deploy] = append(of[d.deploy], id)
		}
	}
	last := map[int64]githubStatus{}    // by deployment
	lastOf := map[int64]*githubStatus{} // by deploy, of all its deployments
	for _, s := range statuses {
		last[s.deployment] = s
		if dep := deployments[s.deployment].deploy; dep != 0 {
			lastOf[dep] = &s
		}
	}
	var k owedKind
	for _, d := range ended(deploys) {
		k.owed++
		want := githubStateOf[d.State]
		ids := of[d.ID]
		newest := lastOf[d.ID]
		if len(ids) > 1 {
			k.dups++
			if slices.ContainsFunc(ids, func(id int64) bool { return last[id].state != want }) {
				k.stale++
			}
		}
		head := fmt.Sprintf("#%d (%s) %s", d.ID, d.lane(), d.State)
		switch {
		case len(ids) == 0:
			k.misses = append(k.misses, head+": no GitHub deployment names it")
		case newest == nil:
			k.misses = append(k.misses, fmt.Sprintf("%s: deployment %s has no status", head, joinIDs(ids)))
		case newest.state != want:
			k.misses = append(k.misses, fmt.Sprintf("%s: deployment %d's last status is %s (%q, from %s at %s), want %s",
				head, newest.deployment, newest.state, newest.description, newest.from, clock(newest.at), want))
		}
	}
	return k
}

// slackCard is a deploy's card: its post, then its updates.
type slackCard struct {
	post    slackMessage
	last    slackMessage // the post, or its last update
	updates int
}

// slackOwed: a card of each ended deploy, in its environment's channel,
// shows its end last. A deploy with several cards is owed one that does.
func slackOwed(deploys map[int64]*apiDeploy, heard []slackMessage) owedKind {
	cards := map[string]*slackCard{} // by channel and ts
	of := map[int64][]*slackCard{}   // deploy -> its cards, in the order posted
	for _, m := range heard {
		key := m.channel + " " + m.ts
		switch m.method {
		case "chat.postMessage":
			if id := cardDeploy(m); id != 0 {
				c := &slackCard{post: m, last: m}
				cards[key] = c
				of[id] = append(of[id], c)
			}
		case "chat.update":
			if c := cards[key]; c != nil {
				c.last = m
				c.updates++
			}
		}
	}
	var k owedKind
	for _, d := range ended(deploys) {
		k.owed++
		channel := envSlackChannel(d.Env)
		var here, elsewhere []*slackCard
		for _, c := range of[d.ID] {
			if c.post.channel == channel {
				here = append(here, c)
			} else {
				elsewhere = append(elsewhere, c)
			}
		}
		shows := func(c *slackCard) bool { return cardShows(d, c.last.text) == d.State }
		if len(here) > 1 {
			k.dups++
			if !all(here, shows) {
				k.stale++
			}
		}
		head := fmt.Sprintf("#%d (%s) %s", d.ID, d.lane(), d.State)
		switch {
		case len(here) == 0 && len(elsewhere) > 0:
			k.misses = append(k.misses, fmt.Sprintf("%s: no card in %s; %d elsewhere (%s)", head, channel, len(elsewhere), elsewhere[0].say(d)))
		case len(here) == 0:
			k.misses = append(k.misses, fmt.Sprintf("%s: no card in %s", head, channel))
		case !slices.ContainsFunc(here, shows):
			var says []string
			for _, c := range here {
				says = append(says, c.say(d))
			}
			k.misses = append(k.misses, fmt.Sprintf("%s: %s", head, strings.Join(says, "; ")))
		}
	}
	return k
}

// say is what the card shows last: "card CPROD 1700000000.000012 shows
// running (posted by deployq-1 at 10:00:01.123, 3 updates, the last by
// deployq-2 at 10:00:04.002)".
func (c *slackCard) say(d *apiDeploy) string {
	shows := cardShows(d, c.last.text)
	if shows == "" {
		shows = fmt.Sprintf("something else: %q", c.last.text)
	}
	s := fmt.Sprintf("card %s %s shows %s (posted by %s at %s", c.post.channel, c.post.ts, shows, c.post.from, clock(c.post.at))
	if c.updates > 0 {
		s += fmt.Sprintf(", %d updates, the last by %s at %s", c.updates, c.last.from, clock(c.last.at))
	}
	return s + ")"
}

func all[T any](xs []T, f func(T) bool) bool {
	for _, x := range xs {
		if !f(x) {
			return false
		}
	}
	return true
}

func joinIDs(ids []int64) string {
	var s []string
	for _, id := range ids {
		s = append(s, fmt.Sprint(id))
	}
	return strings.Join(s, ", ")
}
