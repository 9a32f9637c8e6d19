package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/bot/slack"
	"github.com/deployq/deployq/queue"
	"github.com/gorilla/websocket"
)

const (
	sha2 = "2222222222222222222222222222222222222222"
	sha3 = "3333333333333333333333333333333333333333"
)

// buttonPayload is the fixture's block_actions payload turned into a
// click by user on one of deployq's buttons; every click has a trigger
// id of its own.
func buttonPayload(t testing.TB, action, value, user, trigger string) map[string]any {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(fixture(t, "interactive.block_actions.button.json"), &p); err != nil {
		t.Fatal(err)
	}
	act := p["actions"].([]any)[0].(map[string]any)
	act["action_id"], act["value"] = action, value
	p["user"].(map[string]any)["id"] = user
	p["trigger_id"] = trigger
	return p
}

// click sends user's click on a button over Socket Mode and waits for its
// ack. The button is on the fixture's message: in channel CBR2V3XEX, at
// 1548261231.000200.
func (e *env) click(t testing.TB, c *websocket.Conn, user, action, value string) {
	t.Helper()
	e.sent++
	p := buttonPayload(t, action, value, user, fmt.Sprintf("12321423423.333649436676.click%d", e.sent))
	envelope, _ := json.Marshal(map[string]any{"envelope_id": fmt.Sprintf("env-click-%d", e.sent), "type": "interactive", "payload": p})
	send(t, e.fake, c, envelope)
}

// deploy has user deploy sha over Socket Mode and waits for the end.
func (e *env) deploy(t testing.TB, c *websocket.Conn, user, sha string) *queue.Deploy {
	t.Helper()
	n := len(e.deploys(t))
	e.say(t, c, user, "deploy web@"+sha)
	e.fake.waitFor(t, "the deploy of "+sha, func() bool { return len(e.deploys(t)) == n+1 })
	return e.waitDeploy(t, e.deploys(t)[0].ID)
}

// The Roll back button of a deploy's message rolls that deploy back: its
// app and env go back to what ran before it, even when later deploys
// followed it.
func TestRollBackButtonRollsBackItsDeploy(t *testing.T) {
	e := start(t, "socket", "true", nil)
	c := e.fake.conn()
	for _, sha := range []string{sha, sha2, sha3} { // #1, #2, #3
		if d := e.deploy(t, c, "U222", sha); d.State != queue.StateSucceeded {
			t.Fatalf("#%d %s %s", d.ID, d.State, d.Error)
		}
	}
	e.click(t, c, "UA8RXUSPL", slack.ActionRollback, "2") // on #2's message
	e.fake.waitFor(t, "the rollback, or its refusal", func() bool {
		return len(e.deploys(t)) == 4 || len(e.fake.said("UA8RXUSPL")) > 0
	})
	if said := e.fake.said("UA8RXUSPL"); len(said) > 0 {
		t.Fatalf("refused: %q", said)
	}
	d := e.waitDeploy(t, 4)
	if d.SHA != sha {
		t.Errorf("rolled back to %s, want %s (what ran before #2)", queue.ShortSHA(d.SHA), queue.ShortSHA(sha))
	}
	if d.State != queue.StateSucceeded || d.Source != queue.SourceRollback || d.User != "slack:UA8RXUSPL" ||
		d.ChatThread != "slack:CBR2V3XEX:1548261231.000200" {
		t.Errorf("rollback %+v", d)
	}
}

// Buttons meet the same rules as typed commands: someone the rules
// refuse gets from a button the very answer the typed command gets.
func TestButtonsAnswerAsTypedCommands(t *testing.T) {
	e := startWith(t, "socket", "true", nil, func(f *fakeSlack, env *queue.Environment) {
		f.users = map[string][2]string{"U222": {"grace", "grace@example.com"}, "U333": {"mallory", "m@example.com"}}
		f.groups = map[string][]string{"oncall": {"U222"}}
		env.Deployers = []string{"@oncall"}
	})
	c := e.fake.conn()
	e.deploy(t, c, "U222", sha)  // #1
	e.deploy(t, c, "U222", sha2) // #2
	e.say(t, c, "U222", "lock staging: release")
	e.fake.waitFor(t, "the lock", func() bool {
		locks, _ := e.svc.Locks(t.Context())
		return len(locks) == 1
	})
	cases := []struct{ button, value, typed, want string }{
		{slack.ActionRollback, "2", "rollback web to #1", "slack:mallory may not roll back web in staging (deployers: @oncall)"},
		{slack.ActionCancel, "2", "cancel #2", "slack:mallory may not cancel deploys of web in staging (deployers: @oncall)"},
		{slack.ActionContinue, "2", "continue #2", "slack:mallory may not continue deploys of web in staging (deployers: @oncall)"},
		{slack.ActionApprove, "2", "approve #2", "#2 needs no approval (staging has no approvals rule)"},
		{slack.ActionReject, "2", "reject #2", "#2 needs no approval (staging has no approvals rule)"},
		{slack.ActionUnlock, "staging", "unlock staging", "slack:mallory may not lock or unlock web in staging (lockers: @oncall)"},
	}
	for _, tc := range cases {
		t.Run(tc.button, func(t *testing.T) {
			n := len(e.fake.said("U333"))
			e.click(t, c, "U333", tc.button, tc.value)
			e.fake.waitFor(t, "the answer to the button", func() bool { return len(e.fake.said("U333")) == n+1 })
			e.say(t, c, "U333", tc.typed)
			e.fake.waitFor(t, "the answer to "+tc.typed, func() bool { return len(e.fake.said("U333")) == n+2 })
			said := e.fake.said("U333")
			if button, typed := html.UnescapeString(said[n]), html.UnescapeString(said[n+1]); button != tc.want || typed != tc.want {
				t.Fatalf("button: %q\ntyped:  %q\nwant:   %q", button, typed, tc.want)
			}
		})
	}
	// every answer above came after its command was carried out
	if n := len(e.deploys(t)); n != 2 {
		t.Errorf("%d deploys", n)
	}
	if locks, _ := e.svc.Locks(t.Context()); len(locks) != 1 {
		t.Errorf("locks: %v", locks)
	}
}

// deployers: a Slack @group lets its members deploy; others are refused,
// privately, with the rule named.
func TestPermissionsFromSlack(t *testing.T) {
	e := startWith(t, "socket", "true", nil, func(f *fakeSlack, env *queue.Environment) {
		f.users = map[string][2]string{"U222": {"grace", "grace@example.com"}, "U333": {"mallory", "m@example.com"}}
		f.groups = map[string][]string{"oncall": {"U222"}}
		env.Deployers = []string{"@oncall"}
	})
	c := e.fake.conn()
	e.say(t, c, "U222", "deploy web@"+sha)
	e.fake.waitFor(t, "grace's deploy", func() bool { return len(e.deploys(t)) == 1 })
	if d := e.deploys(t)[0]; d.User != "slack:grace" {
		t.Fatalf("user %q", d.User)
	}
	e.say(t, c, "U333", "deploy web@"+sha)
	e.fake.waitFor(t, "mallory's refusal", func() bool {
		for _, r := range e.fake.said("U333") {
			if strings.Contains(r, "slack:mallory may not deploy web in staging (deployers: @oncall)") {
				return true
			}
		}
		return false
	})
	if n := len(e.deploys(t)); n != 1 {
		t.Fatalf("%d deploys", n)
	}
}
func TestLocksInSlack(t *testing.T) {
	e := startWith(t, "socket", "exit 3", func(a *slack.Adapter) {
		a.NagEvery = time.Second
		a.SetLockNagAfter(time.Millisecond)
	}, func(f *fakeSlack, _ *queue.Environment) {
		f.users = map[string][2]string{"U222": {"grace", "grace@example.com"}}
	})
	c := e.fake.conn()
	e.say(t, c, "U222", "lock staging for 2h: db migration")

	card := func(channel string) bool {
		for _, p := range e.fake.callsOf("chat.postMessage") {
			if p.Form.Get("channel") == channel && strings.Contains(blocksOf(p), "is locked by slack:grace: db migration") &&
				strings.Contains(blocksOf(p), slack.ActionUnlock) && strings.Contains(blocksOf(p), "expires") {
				return true
			}
		}
		return false
	}
	e.fake.waitFor(t, "the lock card in the asker's thread", func() bool { return card("C111") })
	e.fake.waitFor(t, "the lock announced", func() bool { return card("CANNOUNCE") })
	e.fake.waitFor(t, "the reminder DM", func() bool { return card("U222") })

	// the holder's failed deploy: a DM
	e.say(t, c, "U222", "deploy web@"+sha)
	e.fake.waitFor(t, "the DM about the failure", func() bool {
		for _, p := range e.fake.callsOf("chat.postMessage") {
			if p.Form.Get("channel") == "U222" && strings.Contains(p.Form.Get("text"), "Your deploy #1 of web to staging failed: exit status 3") {
				return true
			}
		}
		return false
	})

	// the Unlock button on the card
	e.click(t, c, "U222", slack.ActionUnlock, "staging")
	e.fake.waitFor(t, "the unlock", func() bool {
		locks, _ := e.svc.Locks(t.Context())
		return len(locks) == 0
	})
}

// pauser pauses once, as a rollout in manual mode does after its canary.
type pauser struct{}

func (pauser) Run(ctx context.Context, job queue.Job, out queue.Output) (queue.Result, error) {
	if err := out.Pause(ctx, "canary done"); err != nil {
		return queue.Result{}, err
	}
	return queue.Result{OK: true}, nil
}

// A paused deploy's message has a Continue button; clicking it goes on.
func TestContinueButton(t *testing.T) {
	e := startWith(t, "socket", "true", nil, func(_ *fakeSlack, env *queue.Environment) { env.Runner = "pauser" },
		func(o *queue.Options) { o.Runners["pauser"] = pauser{} })
	c := e.fake.conn()
	e.say(t, c, "U222", "deploy web@"+sha)
	e.fake.waitFor(t, "the Continue button", func() bool { return shows(e.fake, slack.ActionContinue) })
	e.click(t, c, "UA8RXUSPL", slack.ActionContinue, "1") // the fixture's clicking user
	if d := e.waitDeploy(t, 1); d.State != queue.StateSucceeded {
		t.Fatalf("%s %q", d.State, d.Error)
	}
}

// A deploy waiting for approval shows Approve and Reject; an approver's
// click approves it (the same rules as `approve #ID`).
func TestApproveButton(t *testing.T) {
	e := startWith(t, "socket", "true", nil, func(_ *fakeSlack, env *queue.Environment) {
		env.Approvals = queue.Approvals{Required: 1, From: []string{"UA8RXUSPL"}} // the fixture's clicking user
	})
	c := e.fake.conn()
	e.say(t, c, "U222", "deploy web@"+sha)
	e.fake.waitFor(t, "the Approve button", func() bool {
		return shows(e.fake, slack.ActionApprove) && shows(e.fake, slack.ActionReject) && shows(e.fake, "waiting for approval: 0 of 1 from UA8RXUSPL")
	})
	e.click(t, c, "UA8RXUSPL", slack.ActionApprove, "1") // the fixture's clicking user
	if d := e.waitDeploy(t, 1); d.State != queue.StateSucceeded {
		t.Fatalf("%s %q", d.State, d.Error)
	}
}
