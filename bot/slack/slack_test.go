package slack_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/bot/slack"
	"github.com/deployq/deployq/git"
	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners/shell"
	"github.com/deployq/deployq/store"
	"github.com/gorilla/websocket"
)

const secret = "test-signing-secret"

func blocksOf(c call) string { return c.Form.Get("blocks") }

// The documented example request verifies, at its own time.
func TestVerifyDocumentedExample(t *testing.T) {
	body := fixture(t, "slash-command.form.txt")
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", "1531420618")
	h.Set("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
	at := time.Unix(1531420618, 0).Add(30 * time.Second)
	const docSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	if err := slack.Verify(h, body, docSecret, at); err != nil {
		t.Fatalf("documented example: %v", err)
	}
	if err := slack.Verify(h, body, docSecret, at.Add(6*time.Minute)); err != slack.ErrStale {
		t.Fatalf("replayed later: %v", err)
	}
	if err := slack.Verify(h, append(body, '&'), docSecret, at); err != slack.ErrBadSignature {
		t.Fatalf("changed body: %v", err)
	}
	if err := slack.Verify(h, body, "wrong", at); err != slack.ErrBadSignature {
		t.Fatalf("wrong secret: %v", err)
	}
	if err := slack.Verify(http.Header{}, body, docSecret, at); err != slack.ErrNoSignature {
		t.Fatalf("unsigned: %v", err)
	}
}

// sendEnvelope writes a Socket Mode envelope and returns its id.
func sendEnvelope(t testing.TB, c *websocket.Conn, raw []byte) string {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, raw); err != nil {
		t.Fatal(err)
	}
	var env struct {
		EnvelopeID string `json:"envelope_id"`
	}
	json.Unmarshal(raw, &env)
	return env.EnvelopeID
}

func waitAck(t testing.TB, f *fakeSlack, id string) map[string]any {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case ack := <-f.acks:
			if ack["envelope_id"] == id {
				return ack
			}
		case <-deadline:
			t.Fatalf("envelope %s never acked", id)
		}
	}
}

// mention is the fixture's app_mention envelope with another text.
func mention(t testing.TB, text string) []byte {
	return withValue(t, fixture(t, "socket-mode.events_api.app_mention.json"), "<@U111> "+text, "payload", "event", "text")
}

func TestMentionDeploysOverSocketMode(t *testing.T) {
	e := start(t, "socket", `echo "step one"; echo "step <two> & more" >&2`, nil)
	c := e.fake.conn()
	id := sendEnvelope(t, c, mention(t, "deploy web@"+sha+" to staging"))
	waitAck(t, e.fake, id)

	e.fake.waitFor(t, "a deploy", func() bool { return len(e.deploys(t)) == 1 })
	d := e.waitDeploy(t, e.deploys(t)[0].ID)
	if d.State != queue.StateSucceeded || d.User != "U222" || d.ChatThread != "slack:C111:1610241741.000200" || d.Source != queue.SourceChat {
		t.Fatalf("deploy %+v", d)
	}
	// One message, posted in the thread of the mention, then updated in
	// place until it says succeeded; the log in the same thread.
	e.fake.waitFor(t, "the final state", func() bool { return shows(e.fake, "succeeded") })
	var messages, logPosts []call
	for _, p := range e.fake.callsOf("chat.postMessage") {
		if p.Form.Get("channel") == "CANNOUNCE" {
			continue
		}
		if blocksOf(p) != "" {
			messages = append(messages, p)
		} else {
			logPosts = append(logPosts, p)
		}
	}
	if len(messages) != 1 || messages[0].Form.Get("channel") != "C111" || messages[0].Form.Get("thread_ts") != "1610241741.000200" {
		t.Fatalf("deploy messages: %+v", messages)
	}
	// the environment's channel hears of the end (and of the start, when
	// the deploy was seen running)
	e.fake.waitFor(t, "the announcement", func() bool {
		return strings.Contains(announced(e), "web `1111111` is live in staging")
	})
	for _, u := range e.fake.callsOf("chat.update") {
		if u.Form.Get("ts") != "1503435956.000247" || u.Form.Get("channel") != "C111" {
			t.Fatalf("update of another message: %v", u.Form)
		}
	}
	e.fake.waitFor(t, "the log in the thread", func() bool {
		var all string
		for _, p := range e.fake.callsOf("chat.postMessage") {
			if blocksOf(p) == "" {
				all += p.Form.Get("text")
			}
		}
		return strings.Contains(all, "step one") && strings.Contains(all, "step &lt;two&gt; &amp; more")
	})
	for _, p := range logPosts {
		if p.Form.Get("thread_ts") != "1610241741.000200" {
			t.Fatalf("log posted outside the thread: %v", p.Form)
		}
	}
	if !strings.Contains(blocksOf(messages[0]), "https://github.com/acme/web/commit/"+sha) {
		t.Fatalf("no commit link: %s", blocksOf(messages[0]))
	}
}

// The fixture as it is: a mention with no command gets a short help,
// privately.
func TestEmptyMentionGetsHelp(t *testing.T) {
	e := start(t, "socket", "true", nil)
	c := e.fake.conn()
	waitAck(t, e.fake, sendEnvelope(t, c, fixture(t, "socket-mode.events_api.app_mention.json")))
	e.fake.waitFor(t, "an ephemeral reply", func() bool { return len(e.fake.callsOf("chat.postEphemeral")) == 1 })
	r := e.fake.callsOf("chat.postEphemeral")[0].Form
	if r.Get("user") != "U222" || r.Get("channel") != "C111" || !strings.Contains(r.Get("text"), "say a command") {
		t.Fatalf("reply %v", r)
	}
	if len(e.deploys(t)) != 0 {
		t.Fatal("a deploy from an empty mention")
	}
}

func TestTypoAndUnknownAppAreEphemeral(t *testing.T) {
	e := start(t, "socket", "true", nil)
	c := e.fake.conn()
	for i, text := range []string{"depoly web", "deploy wbe to staging", "deploy web@$(id)"} {
		env := withValue(t, mention(t, text), fmt.Sprintf("Ev-typo-%d", i), "payload", "event_id")
		env = withValue(t, env, fmt.Sprintf("env-%d", i), "envelope_id")
		waitAck(t, e.fake, sendEnvelope(t, c, env))
	}
	e.fake.waitFor(t, "three ephemeral replies", func() bool { return len(e.fake.callsOf("chat.postEphemeral")) == 3 })
	var texts []string
	for _, r := range e.fake.callsOf("chat.postEphemeral") {
		texts = append(texts, html.UnescapeString(r.Form.Get("text")))
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{`did you mean "deploy"?`, "usage: deploy[!|!!] APP[@REF] [to ENV]", `unknown app "wbe"`, `invalid ref "$(id)"`} {
		if !strings.Contains(all, want) {
			t.Errorf("replies lack %q:\n%s", want, all)
		}
	}
	if len(e.deploys(t)) != 0 {
		t.Fatal("a deploy from bad input")
	}
}

// The socket drops while a command is on its way; Slack delivers it again
// on the new connection. One deploy, not zero, not two.
func TestSocketDropNeitherLosesNorDuplicates(t *testing.T) {
	e := start(t, "socket", "true", nil)
	c1 := e.fake.conn()
	env := mention(t, "deploy web@"+sha)
	waitAck(t, e.fake, sendEnvelope(t, c1, env))
	c1.Close() // the socket drops; Slack cannot know the ack arrived, so it delivers again

	c2 := e.fake.conn() // deployq reconnected by itself
	retry := withValue(t, env, 1, "retry_attempt")
	retry = withValue(t, retry, "timeout", "retry_reason")
	waitAck(t, e.fake, sendEnvelope(t, c2, retry))
	e.fake.waitFor(t, "the deploy", func() bool { return len(e.deploys(t)) >= 1 })
	// a later command on the same connection is handled after the redelivery
	later := withValue(t, mention(t, "queue"), "Ev-later", "payload", "event_id")
	later = withValue(t, later, "env-later", "envelope_id")
	waitAck(t, e.fake, sendEnvelope(t, c2, later))
	e.fake.waitFor(t, "the queue reply", func() bool {
		for _, p := range e.fake.callsOf("chat.postMessage") {
			if blocksOf(p) == "" && strings.Contains(p.Form.Get("text"), "staging") || strings.Contains(p.Form.Get("text"), "nothing running") {
				return true
			}
		}
		return false
	})
	if n := len(e.deploys(t)); n != 1 {
		t.Fatalf("%d deploys from one command", n)
	}
}

// A disconnect envelope (the fixture) makes deployq reconnect, and
// commands keep working.
func TestDisconnectEnvelopeReconnects(t *testing.T) {
	e := start(t, "socket", "true", nil)
	c1 := e.fake.conn()
	c1.WriteMessage(websocket.TextMessage, fixture(t, "socket-mode.disconnect.warning.json"))
	c2 := e.fake.conn()
	waitAck(t, e.fake, sendEnvelope(t, c2, mention(t, "deploy web@"+sha)))
	e.fake.waitFor(t, "the deploy", func() bool { return len(e.deploys(t)) == 1 })
	e.fake.mu.Lock()
	opens := e.fake.opens
	e.fake.mu.Unlock()
	if opens < 2 {
		t.Fatalf("apps.connections.open called %d times", opens)
	}
}

// 500 log lines in 2 s: at most 3 thread posts (one a second), every line
// in them.
func TestThreadPostsAreCoalesced(t *testing.T) {
	cmd := `i=0; while [ $i -lt 500 ]; do echo "line $i"; i=$((i+1)); case $i in *0) sleep 0.04;; esac; done`
	e := start(t, "socket", cmd, func(a *slack.Adapter) { a.PostInterval = time.Second })
	c := e.fake.conn()
	waitAck(t, e.fake, sendEnvelope(t, c, mention(t, "deploy web@"+sha)))
	e.fake.waitFor(t, "the deploy", func() bool { return len(e.deploys(t)) == 1 })
	d := e.waitDeploy(t, e.deploys(t)[0].ID)
	if d.State != queue.StateSucceeded {
		t.Fatalf("%s: %s", d.State, d.Error)
	}
	var posts []string
	e.fake.waitFor(t, "every line", func() bool {
		posts = posts[:0]
		for _, p := range e.fake.callsOf("chat.postMessage") {
			if blocksOf(p) == "" && p.Form.Get("thread_ts") != "" {
				posts = append(posts, p.Form.Get("text"))
			}
		}
		return strings.Contains(strings.Join(posts, ""), "line 499\n")
	})
	// One post a second at most: a 2 s log makes at most 3 posts (after
	// 1 s, 2 s, and the rest at the end); a loaded machine that runs the
	// script longer earns one more post per extra second, no more.
	if limit := int(d.FinishedAt.Sub(d.StartedAt).Seconds()) + 1; len(posts) > max(limit, 3) {
		t.Fatalf("%d thread posts for a %s log", len(posts), d.FinishedAt.Sub(d.StartedAt))
	}
	e.fake.waitFor(t, "the end announced", func() bool { return strings.Contains(announced(e), "is live in staging") })
	if all := announced(e); !strings.Contains(all, "U222 is deploying web `1111111` to staging") {
		t.Fatalf("the start was not announced: %s", all)
	}
	all := strings.Join(posts, "")
	for i := range 500 {
		if !strings.Contains(all, fmt.Sprintf("line %d\n", i)) {
			t.Fatalf("line %d missing", i)
		}
	}
}

// Slack answers 429 with Retry-After: deployq waits and the message still
// ends with the final state.
func TestRateLimitedUpdatesStillEndRight(t *testing.T) {
	e := start(t, "socket", "sleep 0.3; echo hi", nil) // long enough to be updated
	e.fake.mu.Lock()
	e.fake.limited["chat.update"] = 2
	e.fake.limited["chat.postMessage"] = 1
	e.fake.mu.Unlock()
	c := e.fake.conn()
	waitAck(t, e.fake, sendEnvelope(t, c, mention(t, "deploy web@"+sha)))
	e.fake.waitFor(t, "the deploy", func() bool { return len(e.deploys(t)) == 1 })
	e.waitDeploy(t, e.deploys(t)[0].ID)
	e.fake.waitFor(t, "the final state after the 429s", func() bool {
		ups := e.fake.callsOf("chat.update")
		e.fake.mu.Lock()
		left := e.fake.limited["chat.update"]
		e.fake.mu.Unlock()
		return left == 0 && len(ups) >= 3 && strings.Contains(blocksOf(ups[len(ups)-1]), "succeeded")
	})
	if n := len(e.fake.callsOf("chat.postMessage")); n < 2 {
		t.Fatalf("the message was not posted again after the 429: %d posts", n)
	}
}

// Deploys not asked for in Slack (API, GitHub, auto) are announced in the
// announcement channel.
func TestAPIDeployIsAnnounced(t *testing.T) {
	e := start(t, "socket", "true", nil)
	d, err := e.svc.Submit(t.Context(), queue.Request{App: "web", Ref: sha, User: "alice", Source: queue.SourceAPI})
	if err != nil {
		t.Fatal(err)
	}
	e.waitDeploy(t, d.ID)
	e.fake.waitFor(t, "the announcement", func() bool { return shows(e.fake, "succeeded") })
	if p := e.fake.callsOf("chat.postMessage")[0].Form; p.Get("channel") != "CANNOUNCE" || p.Get("thread_ts") != "" {
		t.Fatalf("announced in %v", p)
	}
}

func sign(r *http.Request, body []byte, at time.Time) {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	r.Header.Set("X-Slack-Request-Timestamp", ts)
	r.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
}

func TestHTTPMode(t *testing.T) {
	e := start(t, "http", "echo over http", nil)
	mux := http.NewServeMux()
	for path, h := range e.slack.Handlers() {
		mux.Handle(path, h)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	post := func(path string, body []byte, signAt time.Time, contentType string) (int, string) {
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", contentType)
		if !signAt.IsZero() {
			sign(req, body, signAt)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	now := time.Now()
	const form = "application/x-www-form-urlencoded"

	t.Run("url_verification", func(t *testing.T) {
		code, body := post("/slack/events", fixture(t, "events-api.url_verification.json"), now, "application/json")
		if code != 200 || body != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
			t.Fatalf("%d %q", code, body)
		}
	})
	t.Run("ErrUnsigned", func(t *testing.T) {
		if code, _ := post("/slack/commands", fixture(t, "slash-command.form.txt"), time.Time{}, form); code != 401 {
			t.Fatalf("%d", code)
		}
	})
	t.Run("ErrReplay", func(t *testing.T) {
		if code, _ := post("/slack/commands", fixture(t, "slash-command.form.txt"), now.Add(-10*time.Minute), form); code != 401 {
			t.Fatalf("%d", code)
		}
	})
	t.Run("ErrBadSignature", func(t *testing.T) {
		body := fixture(t, "slash-command.form.txt")
		req, _ := http.NewRequest("POST", srv.URL+"/slack/commands", strings.NewReader(string(body)+"x"))
		sign(req, body, now)
		resp, _ := http.DefaultClient.Do(req)
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
	t.Run("slash command, as it comes", func(t *testing.T) {
		code, body := post("/slack/commands", fixture(t, "slash-command.form.txt"), now, form)
		if code != 200 || !strings.Contains(body, `"response_type":"ephemeral"`) || !strings.Contains(body, "say a command") {
			t.Fatalf("%d %s", code, body)
		}
	})
	t.Run("slash command deploys", func(t *testing.T) {
		v, _ := url.ParseQuery(string(fixture(t, "slash-command.form.txt")))
		v.Set("text", "web@"+sha+" to staging")
		v.Set("trigger_id", "398738663015.47445629121.another") // every invocation has its own
		code, body := post("/slack/commands", []byte(v.Encode()), now, form)
		if code != 200 || !strings.Contains(body, "queued") {
			t.Fatalf("%d %s", code, body)
		}
		ds := e.deploys(t)
		if len(ds) != 1 || ds[0].User != "U2CERLKJA" || ds[0].ChatThread != "slack:G8PSS9T3V" {
			t.Fatalf("%+v", ds)
		}
		e.waitDeploy(t, ds[0].ID)
		e.fake.waitFor(t, "the message in the command's channel", func() bool {
			ps := e.fake.callsOf("chat.postMessage")
			return len(ps) > 0 && ps[0].Form.Get("channel") == "G8PSS9T3V"
		})
	})
	t.Run("a direct message, as it comes", func(t *testing.T) {
		code, _ := post("/slack/events", fixture(t, "events-api.event_callback.message.im.json"), now, "application/json")
		if code != 200 {
			t.Fatalf("%d", code)
		}
		e.fake.waitFor(t, "the reply to 'test'", func() bool {
			for _, r := range e.fake.callsOf("chat.postEphemeral") {
				if r.Form.Get("channel") == "D0442US94JD" && strings.Contains(r.Form.Get("text"), `unknown command`) {
					return true
				}
			}
			return false
		})
	})
	t.Run("a redelivered event runs once", func(t *testing.T) {
		ev := withValue(t, fixture(t, "events-api.event_callback.app_mention.json"), "<@U111> deploy web@"+sha, "event", "text")
		before := len(e.deploys(t))
		for range 2 {
			if code, _ := post("/slack/events", ev, now, "application/json"); code != 200 {
				t.Fatalf("%d", code)
			}
		}
		e.fake.waitFor(t, "the deploy", func() bool { return len(e.deploys(t)) > before })
		time.Sleep(100 * time.Millisecond) // a second deploy, if any, would be queued by now
		if n := len(e.deploys(t)) - before; n != 1 {
			t.Fatalf("%d deploys from one event delivered twice", n)
		}
	})
	t.Run("buttons", func(t *testing.T) {
		// the fixture's own button is not deployq's: nothing happens
		v := url.Values{"payload": {string(fixture(t, "interactive.block_actions.button.json"))}}
		if code, _ := post("/slack/interactive", []byte(v.Encode()), now, form); code != 200 {
			t.Fatalf("%d", code)
		}
		// deployq's Roll back button on the first deploy's message
		first := e.deploys(t)[len(e.deploys(t))-1]
		var payload map[string]any
		json.Unmarshal(fixture(t, "interactive.block_actions.button.json"), &payload)
		act := payload["actions"].([]any)[0].(map[string]any)
		act["action_id"], act["value"] = slack.ActionRollback, fmt.Sprint(first.ID)
		payload["trigger_id"] = "12321423423.333649436676.another" // every click has its own
		b, _ := json.Marshal(payload)
		before := len(e.deploys(t))
		if code, _ := post("/slack/interactive", []byte(url.Values{"payload": {string(b)}}.Encode()), now, form); code != 200 {
			t.Fatalf("%d", code)
		}
		e.fake.waitFor(t, "the rollback's answer", func() bool {
			for _, r := range e.fake.callsOf("chat.postEphemeral") {
				if strings.Contains(r.Form.Get("text"), "roll back") && r.Form.Get("user") == "UA8RXUSPL" {
					return true
				}
			}
			return len(e.deploys(t)) > before
		})
	})
}

// deployers: a Slack @group lets its members deploy; others are refused,
// privately, with the rule named; buttons meet the same rule.
func TestPermissionsFromSlack(t *testing.T) {
	e := startWith(t, "socket", "true", nil, func(f *fakeSlack, env *queue.Environment) {
		f.users = map[string][2]string{"U222": {"grace", "grace@example.com"}, "U333": {"mallory", "m@example.com"}}
		f.groups = map[string][]string{"oncall": {"U222"}}
		env.Deployers = []string{"@oncall"}
	})
	c := e.fake.conn()
	waitAck(t, e.fake, sendEnvelope(t, c, mention(t, "deploy web@"+sha)))
	e.fake.waitFor(t, "grace's deploy", func() bool { return len(e.deploys(t)) == 1 })
	if d := e.deploys(t)[0]; d.User != "grace" {
		t.Fatalf("user %q", d.User)
	}
	other := withValue(t, mention(t, "deploy web@"+sha), "U333", "payload", "event", "user")
	other = withValue(t, other, "Ev-mallory", "payload", "event_id")
	waitAck(t, e.fake, sendEnvelope(t, c, withValue(t, other, "env-mallory", "envelope_id")))
	e.fake.waitFor(t, "mallory's refusal", func() bool {
		for _, r := range e.fake.callsOf("chat.postEphemeral") {
			if r.Form.Get("user") == "U333" && strings.Contains(r.Form.Get("text"), "mallory may not deploy web in staging (deployers: @oncall)") {
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
	waitAck(t, e.fake, sendEnvelope(t, c, mention(t, "lock staging for 2h: db migration")))

	card := func(channel string) bool {
		for _, p := range e.fake.callsOf("chat.postMessage") {
			if p.Form.Get("channel") == channel && strings.Contains(blocksOf(p), "is locked by grace: db migration") &&
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
	env := withValue(t, mention(t, "deploy web@"+sha), "Ev-fail", "payload", "event_id")
	waitAck(t, e.fake, sendEnvelope(t, c, withValue(t, env, "env-fail", "envelope_id")))
	e.fake.waitFor(t, "the DM about the failure", func() bool {
		for _, p := range e.fake.callsOf("chat.postMessage") {
			if p.Form.Get("channel") == "U222" && strings.Contains(p.Form.Get("text"), "Your deploy #1 of web to staging failed: exit status 3") {
				return true
			}
		}
		return false
	})

	// the Unlock button on the card
	var payload map[string]any
	json.Unmarshal(fixture(t, "interactive.block_actions.button.json"), &payload)
	act := payload["actions"].([]any)[0].(map[string]any)
	act["action_id"], act["value"] = slack.ActionUnlock, "staging"
	payload["user"].(map[string]any)["id"] = "U222"
	b, _ := json.Marshal(payload)
	var cb map[string]any
	json.Unmarshal(b, &cb)
	envelope, _ := json.Marshal(map[string]any{"envelope_id": "env-unlock", "type": "interactive", "payload": cb})
	waitAck(t, e.fake, sendEnvelope(t, c, envelope))
	e.fake.waitFor(t, "the unlock", func() bool {
		locks, _ := e.svc.Locks(t.Context())
		return len(locks) == 0
	})
}

// announced is what was said in the announcement channel.
func announced(e *env) string {
	var said []string
	for _, p := range e.fake.callsOf("chat.postMessage") {
		if p.Form.Get("channel") == "CANNOUNCE" {
			said = append(said, p.Form.Get("text"))
		}
	}
	return strings.Join(said, "\n")
}

// Slack was not there when a deploy ended (the server stopped with Slack
// down, or crashed): on the next start the deploy's own message is brought
// up to date, not a new one posted.
func TestMessageUpdatedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	fake := newFakeSlack(t)
	gate := filepath.Join(dir, "started")
	run := func(stopSlackFirst bool, wait func(e *env)) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		st, err := store.Open(ctx, filepath.Join(dir, "db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		a := slack.New(slack.Config{BotToken: "xoxb", AppToken: "xapp", APIURL: fake.apiURL(), BaseURL: "http://deployq.test"},
			slog.New(slog.NewTextHandler(io.Discard, nil)))
		a.PostInterval = 20 * time.Millisecond
		apps := []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "staging", Environments: []*queue.Environment{
			{Name: "staging", Runner: "shell", Settings: &shell.Settings{Command: "touch " + gate + "; sleep 300"}}}}}
		svc, err := queue.New(apps, queue.Options{Store: st, Runners: map[string]queue.Runner{"shell": shell.New(filepath.Join(dir, "ws"))},
			Resolver: git.NewResolver(dir), Notifiers: []queue.Notifier{a}})
		if err != nil {
			t.Fatal(err)
		}
		slackCtx, stopSlack := context.WithCancel(ctx)
		if err := svc.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.Start(slackCtx, svc, bot.New(svc, "")); err != nil {
			t.Fatal(err)
		}
		wait(&env{svc: svc, slack: a, fake: fake, st: st})
		if stopSlackFirst {
			stopSlack()
			a.Wait()
		}
		svc.Stop()
		stopSlack()
		a.Wait()
	}
	run(true, func(e *env) {
		waitAck(t, fake, sendEnvelope(t, fake.conn(), mention(t, "deploy web@"+sha)))
		fake.waitFor(t, "the deploy message kept", func() bool {
			ref, _ := e.svc.Meta(t.Context(), 1, "slack.message")
			return ref != ""
		})
		for _, err := os.Stat(gate); err != nil; _, err = os.Stat(gate) {
			time.Sleep(5 * time.Millisecond)
		}
	})
	if n := len(fake.callsOf("chat.update")); n > 0 && strings.Contains(blocksOf(fake.callsOf("chat.update")[n-1]), "interrupted") {
		t.Fatal("Slack was stopped, it cannot have heard")
	}
	run(false, func(e *env) {
		fake.waitFor(t, "the old message updated", func() bool {
			ups := fake.callsOf("chat.update")
			return len(ups) > 0 && strings.Contains(blocksOf(ups[len(ups)-1]), "interrupted")
		})
	})
	var messages int
	for _, p := range fake.callsOf("chat.postMessage") {
		if blocksOf(p) != "" {
			messages++
		}
	}
	if messages != 1 {
		t.Fatalf("%d deploy messages, want the one, updated", messages)
	}
	if u := fake.callsOf("chat.update"); u[len(u)-1].Form.Get("ts") != "1503435956.000247" {
		t.Fatalf("updated %v", u[len(u)-1].Form)
	}
}

// An auto-deploy that fails: whoever pushed hears it by DM, found by the
// email the push carried.
func TestFailedAutoDeployTellsThePusher(t *testing.T) {
	e := startWith(t, "socket", "exit 4", nil, func(f *fakeSlack, _ *queue.Environment) {
		f.users = map[string][2]string{"U777": {"pat", "pat@example.com"}}
	})
	ctx := t.Context()
	d, err := e.svc.Submit(ctx, queue.Request{App: "web", Ref: "main", SHA: sha, User: "pat-on-github", Source: queue.SourceAuto,
		AuthorEmail: "pat@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	e.waitDeploy(t, d.ID)
	e.fake.waitFor(t, "the DM to the pusher", func() bool {
		for _, p := range e.fake.callsOf("chat.postMessage") {
			if p.Form.Get("channel") == "U777" && strings.Contains(p.Form.Get("text"), "failed: exit status 4") {
				return true
			}
		}
		return false
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
	waitAck(t, e.fake, sendEnvelope(t, c, mention(t, "deploy web@"+sha)))
	e.fake.waitFor(t, "the Continue button", func() bool { return shows(e.fake, slack.ActionContinue) })
	var payload map[string]any
	json.Unmarshal(fixture(t, "interactive.block_actions.button.json"), &payload)
	act := payload["actions"].([]any)[0].(map[string]any)
	act["action_id"], act["value"] = slack.ActionContinue, "1"
	envelope, _ := json.Marshal(map[string]any{"envelope_id": "env-continue", "type": "interactive", "payload": payload})
	waitAck(t, e.fake, sendEnvelope(t, c, envelope))
	if d := e.waitDeploy(t, 1); d.State != queue.StateSucceeded {
		t.Fatalf("%s %q", d.State, d.Error)
	}
}

// shows reports whether the deploy message's last version (its post, or
// its last update) shows state: a fast deploy may be posted already ended.
func shows(f *fakeSlack, state string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	last := ""
	for _, c := range f.calls {
		if (c.Method == "chat.postMessage" || c.Method == "chat.update") && strings.Contains(c.Form.Get("blocks"), `"block_id":"deploy"`) {
			last = c.Form.Get("blocks")
		}
	}
	return strings.Contains(last, state)
}

// A deploy waiting for approval shows Approve and Reject; an approver's
// click approves it (the same rules as `approve #ID`).
func TestApproveButton(t *testing.T) {
	e := startWith(t, "socket", "true", nil, func(_ *fakeSlack, env *queue.Environment) {
		env.Approvals = queue.Approvals{Required: 1, From: []string{"UA8RXUSPL"}} // the fixture's clicking user
	})
	c := e.fake.conn()
	waitAck(t, e.fake, sendEnvelope(t, c, mention(t, "deploy web@"+sha)))
	e.fake.waitFor(t, "the Approve button", func() bool {
		return shows(e.fake, slack.ActionApprove) && shows(e.fake, slack.ActionReject) && shows(e.fake, "waiting for approval: 0 of 1 from UA8RXUSPL")
	})
	var payload map[string]any
	json.Unmarshal(fixture(t, "interactive.block_actions.button.json"), &payload)
	act := payload["actions"].([]any)[0].(map[string]any)
	act["action_id"], act["value"] = slack.ActionApprove, "1"
	envelope, _ := json.Marshal(map[string]any{"envelope_id": "env-approve", "type": "interactive", "payload": payload})
	waitAck(t, e.fake, sendEnvelope(t, c, envelope))
	if d := e.waitDeploy(t, 1); d.State != queue.StateSucceeded {
		t.Fatalf("%s %q", d.State, d.Error)
	}
}
