package slack_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/bot/slack"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
	"github.com/gorilla/websocket"
)

// homeOpened is the fixture's app_home_opened (user U12345678), in the
// fixture's Events API envelope, with an event id of its own.
func (e *env) homeOpened(t testing.TB, c *websocket.Conn) {
	t.Helper()
	e.sent++
	payload := withValue(t, fixture(t, "events-api.event_callback.app_home_opened.json"), fmt.Sprintf("Ev-home-%d", e.sent), "event_id")
	var p any
	json.Unmarshal(payload, &p)
	raw := withValue(t, fixture(t, "socket-mode.events_api.app_mention.json"), p, "payload")
	send(t, e.fake, c, withValue(t, raw, fmt.Sprintf("env-home-%d", e.sent), "envelope_id"))
}

// homeClick is the fixture's click on a Home tab's button (a real Home
// tab's block_actions) turned into user's click on one of deployq's.
func homeClick(t testing.TB, user, action, value, trigger string) map[string]any {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(fixture(t, "interactive.block_actions.home.json"), &p); err != nil {
		t.Fatal(err)
	}
	p["user"].(map[string]any)["id"], p["trigger_id"] = user, trigger
	act := p["actions"].([]any)[0].(map[string]any)
	act["action_id"], act["value"] = action, value
	return p
}

// The Home tab shows what runs where, the queue, the deploys waiting for
// the user's approval (none here: UA8RXUSPL approves), the user's own lock with an Unlock button and their
// recent deploys; its buttons do what the typed commands do, and the tab
// shows what changed.
func TestHomeTab(t *testing.T) {
	e := startApps(t, "socket", "true", nil, nil, withApprovedProduction("UA8RXUSPL"))
	c := e.fake.conn()
	e.deploy(t, c, "U12345678", sha) // #1, in staging
	e.say(t, c, "U222", "deploy web@"+sha+" to production")
	e.fake.waitFor(t, "#2 waiting for approval", func() bool { return len(e.deploys(t)) == 2 && e.deploys(t)[0].State == queue.StateWaiting })
	e.say(t, c, "U12345678", "lock staging: release")
	e.fake.waitFor(t, "the lock", func() bool { l, _ := e.svc.Locks(t.Context()); return len(l) == 1 })

	e.homeOpened(t, c)
	h := e.fake.nthView(t, "views.publish", 1)
	if h.UserID != "U12345678" || h.View.Type != "home" || h.View.CallbackID != slack.CallbackHome {
		t.Fatalf("published %s", h.raw)
	}
	if contains(h, `"block_id":"approve:2"`) {
		t.Errorf("the Home tab offers #2's approval to someone who may not approve it:\n%s", h.raw)
	}
	for _, want := range []string{
		"*staging* · web\\n`1111111` #1 by slack:U12345678", ":lock: locked by slack:U12345678: release",
		`"action_id":"deployq_unlock","value":"staging"`,
		"*production* · web\\nnothing deployed yet\\n1 in the queue (1 waiting)",
		"*Your recent deploys*\\n:white_check_mark: #1 web@" + sha + " (1111111) to staging: succeeded",
	} {
		if !contains(h, want) {
			t.Errorf("the Home tab lacks %s:\n%s", want, h.raw)
		}
	}

	// Approve (a click from an older tab), by someone the rule refuses:
	// told by DM; the tab again
	e.interactive(t, c, homeClick(t, "U12345678", slack.ActionApprove, "2", "987196394372.3485157640.approve"))
	e.fake.waitFor(t, "the refusal by DM", func() bool {
		for _, p := range e.fake.callsOf("chat.postMessage") {
			if p.Form.Get("channel") == "U12345678" && p.Form.Get("text") == "slack:U12345678 may not approve deploys to production (approvals: UA8RXUSPL)" {
				return true
			}
		}
		return false
	})
	e.fake.nthView(t, "views.publish", 2)

	// Unlock: the lock goes, and the tab shows it gone
	e.interactive(t, c, homeClick(t, "U12345678", slack.ActionUnlock, "staging", "987196394372.3485157640.unlock"))
	after := e.fake.nthView(t, "views.publish", 3)
	if l, _ := e.svc.Locks(t.Context()); len(l) != 0 {
		t.Fatalf("locks %v", l)
	}
	if contains(after, ":lock:") || !contains(after, `"action_id":"deployq_open_lock","value":"web in staging"`) {
		t.Errorf("after the unlock:\n%s", after.raw)
	}
	if d, _ := e.svc.Deploy(t.Context(), 2); d.State != queue.StateWaiting {
		t.Errorf("#2 %s: a refused approval approved it", d.State)
	}
}

// The Home tab's Lock button opens the lock form on its lane.
func TestHomeLockButtonOpensTheLockForm(t *testing.T) {
	e := start(t, "socket", "true", nil)
	c := e.fake.conn()
	e.interactive(t, c, homeClick(t, "U12345678", slack.ActionOpenLock, "web in staging", "987196394372.3485157640.lock"))
	v := e.fake.nthView(t, "views.open", 1)
	if v.TriggerID != "987196394372.3485157640.lock" || v.View.CallbackID != slack.CallbackLock || v.View.PrivateMetadata != "" ||
		!strings.Contains(v.raw, `"initial_option":{"text":{"type":"plain_text","text":"staging","emoji":false},"value":"staging"}}},{"type":"input","block_id":"lock_app"`) ||
		!strings.Contains(v.raw, `"initial_option":{"text":{"type":"plain_text","text":"web","emoji":false},"value":"web"}},"optional":true}`) {
		t.Fatalf("opened %s", v.raw)
	}
}

// An approver's Home tab lists the deploys waiting for them, and its
// Approve button approves.
func TestHomeTabApprovals(t *testing.T) {
	e := startApps(t, "socket", "true", nil, nil, withApprovedProduction("U12345678"))
	c := e.fake.conn()
	e.say(t, c, "U222", "deploy web@"+sha+" to production")
	e.fake.waitFor(t, "#1 waiting for approval", func() bool { return len(e.deploys(t)) == 1 && e.deploys(t)[0].State == queue.StateWaiting })
	e.homeOpened(t, c)
	h := e.fake.nthView(t, "views.publish", 1)
	for _, want := range []string{`"block_id":"approve:1"`, "#1 web@" + sha + " (1111111) to production by slack:U222"} {
		if !contains(h, want) {
			t.Errorf("the approver's Home tab lacks %s:\n%s", want, h.raw)
		}
	}
	e.interactive(t, c, homeClick(t, "U12345678", slack.ActionApprove, "1", "987196394372.3485157640.approve"))
	e.fake.waitFor(t, "#1 approved and run", func() bool { d, _ := e.svc.Deploy(t.Context(), 1); return d.State == queue.StateSucceeded })
}

// A Home tab opened lately is drawn again once deploys change: the
// changes of a moment together.
func TestHomeTabFollowsChanges(t *testing.T) {
	e := start(t, "socket", "true", func(a *slack.Adapter) { a.HomeEvery = 50 * time.Millisecond })
	c := e.fake.conn()
	e.homeOpened(t, c)
	first := e.fake.nthView(t, "views.publish", 1)
	if !contains(first, "Nothing yet") {
		t.Fatalf("before any deploy:\n%s", first.raw)
	}
	e.deploy(t, c, "U12345678", sha)
	e.fake.waitFor(t, "the tab drawn again with the deploy", func() bool {
		for _, v := range e.fake.viewCalls(t, "views.publish") {
			if contains(v, "*Your recent deploys*\\n:white_check_mark: #1 web@"+sha) {
				return true
			}
		}
		return false
	})
}

// withApprovedProduction is web in staging and in production, where a
// deploy needs approver's approval.
func withApprovedProduction(approver string) func(*fakeSlack, *queue.Environment) []*queue.App {
	return func(_ *fakeSlack, staging *queue.Environment) []*queue.App {
		production := queuetest.Shell("production", "true")
		production.Approvals = queue.Approvals{Required: 1, From: []string{approver}}
		return []*queue.App{{Name: "web", Repo: "acme/web", DefaultRef: "main", DefaultEnv: "staging",
			Environments: []*queue.Environment{staging, production}}}
	}
}
