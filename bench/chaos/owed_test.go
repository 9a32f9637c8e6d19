package main

import (
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/bot/slack"
	"github.com/deployq/deployq/queue"
)

var testSHA = strings.Repeat("ab", 20)

func testDeploy(id int64, state, err string) *apiDeploy {
	return &apiDeploy{ID: id, App: "app1", Env: "prod", Ref: testSHA, SHA: testSHA, User: "a<b&c", State: state, Error: err}
}

// The card's text is read as deployq's Slack adapter writes it, and only
// as the card of its own deploy.
func TestCardShowsSummary(t *testing.T) {
	for _, st := range cardStates {
		for _, why := range []string{"", "server deployq-2 stopped renewing its lease: it ended"} {
			d := testDeploy(12, st, why)
			text := slack.Summary(slack.DeployView{Deploy: &queue.Deploy{ID: 12, App: "app1", Env: "prod", Ref: testSHA, SHA: testSHA,
				User: d.User, State: queue.State(st), Error: why}})
			m := slackMessage{method: "chat.postMessage", channel: "CPROD", text: text, blocks: `[{"type":"section","block_id":"deploy"}]`}
			if got := cardShows(d, text); got != st {
				t.Errorf("%q shows %q, want %s", text, got, st)
			}
			if id := cardDeploy(m); id != 12 {
				t.Errorf("%q is the card of #%d, want #12", text, id)
			}
			for _, other := range []int64{1, 2, 120} {
				if got := cardShows(testDeploy(other, st, why), text); got != "" {
					t.Errorf("%q read as #%d's card: %s", text, other, got)
				}
			}
		}
	}
}

func TestSlackOwed(t *testing.T) {
	ds := map[int64]*apiDeploy{1: testDeploy(1, "succeeded", ""), 12: testDeploy(12, "failed", "exit 1"),
		13: testDeploy(13, "interrupted", "lease"), 14: testDeploy(14, "running", ""), 15: testDeploy(15, "succeeded", "")}
	card := func(method, channel, ts, thread string, d *apiDeploy, state string) slackMessage {
		return slackMessage{method: method, channel: channel, ts: ts, threadTS: thread, text: cardText(d, state),
			blocks: `[{"type":"section","block_id":"deploy"}]`, at: time.Now()}
	}
	heard := []slackMessage{
		card("chat.postMessage", "CPROD", "1.1", "", ds[1], "queued"),
		card("chat.postMessage", "CPROD", "1.12", "", ds[12], "running"),
		card("chat.update", "CPROD", "1.12", "", ds[12], "failed"),
		card("chat.update", "CPROD", "1.1", "", ds[1], "running"), // #1 never shows its end
		card("chat.postMessage", "CPROD", "1.13", "", ds[13], "running"),
		card("chat.postMessage", "CPROD", "1.131", "", ds[13], "interrupted"), // a second card that shows it
		card("chat.postMessage", "CDEPLOYS", "1.15", "", ds[15], "succeeded"), // in the wrong channel
		card("chat.postMessage", "CPROD", "1.16", "1.1", ds[1], "succeeded"),  // in a thread: no card
	}
	k := slackOwed(ds, heard)
	if k.owed != 4 || k.dups != 1 || k.stale != 1 || len(k.misses) != 2 ||
		!strings.HasPrefix(k.misses[0], "#1 (app1/prod) succeeded: card CPROD 1.1 shows running") ||
		!strings.HasPrefix(k.misses[1], "#15 (app1/prod) succeeded: no card in CPROD; 1 elsewhere") {
		t.Fatalf("%+v", k)
	}
}

func TestGitHubOwed(t *testing.T) {
	ds := map[int64]*apiDeploy{1: testDeploy(1, "succeeded", ""), 12: testDeploy(12, "canceled", ""),
		13: testDeploy(13, "superseded", ""), 14: testDeploy(14, "failed", "")}
	deployments := map[int64]githubDeployment{1: {id: 1, deploy: 1}, 2: {id: 2, deploy: 12}, 3: {id: 3, deploy: 12}, 4: {id: 4, deploy: 13}}
	statuses := []githubStatus{
		{deployment: 1, state: "in_progress"}, {deployment: 2, state: "queued"}, {deployment: 3, state: "error"},
		{deployment: 4, state: "inactive"}, {deployment: 1, state: "success"}, {deployment: 4, state: "in_progress"},
	}
	k := githubOwed(ds, deployments, statuses)
	if k.owed != 4 || k.dups != 1 || k.stale != 1 || len(k.misses) != 2 ||
		!strings.HasPrefix(k.misses[0], "#13 (app1/prod) superseded: deployment 4's last status is in_progress") ||
		k.misses[1] != "#14 (app1/prod) failed: no GitHub deployment names it" {
		t.Fatalf("%+v", k)
	}
}
