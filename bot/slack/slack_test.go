package slack_test

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/bot/slack"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
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

// send writes a Socket Mode envelope and waits for deployq's ack of it.
func send(t testing.TB, f *fakeSlack, c *websocket.Conn, raw []byte) {
	t.Helper()
	var env struct {
		EnvelopeID string `json:"envelope_id"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	acked := len(f.acksOf(env.EnvelopeID))
	if err := c.WriteMessage(websocket.TextMessage, raw); err != nil {
		t.Fatal(err)
	}
	queuetest.Eventually(t, "the ack of envelope "+env.EnvelopeID, func() bool { return len(f.acksOf(env.EnvelopeID)) > acked })
}

// mention is the fixture's app_mention envelope with another text.
func mention(t testing.TB, text string) []byte {
	return withValue(t, fixture(t, "socket-mode.events_api.app_mention.json"), "<@U111> "+text, "payload", "event", "text")
}

// say sends user's mention of deployq with text over Socket Mode, with
// event and envelope ids of its own, and waits for its ack.
func (e *env) say(t testing.TB, c *websocket.Conn, user, text string) {
	t.Helper()
	e.sent++
	raw := withValue(t, mention(t, text), user, "payload", "event", "user")
	raw = withValue(t, raw, fmt.Sprintf("Ev-say-%d", e.sent), "payload", "event_id")
	raw = withValue(t, raw, fmt.Sprintf("env-say-%d", e.sent), "envelope_id")
	send(t, e.fake, c, raw)
}

// handled returns once deployq has handled everything sent on c before:
// it sends one more command and waits for its answer, and deployq runs
// commands one at a time, in the order they came.
func (e *env) handled(t testing.TB, c *websocket.Conn) {
	t.Helper()
	word := fmt.Sprintf("ping-%d", e.sent+1)
	e.say(t, c, "U222", word)
	e.fake.waitFor(t, "the answer to "+word, func() bool { return e.fake.answered("U222", word) })
}

// answered reports whether user got the answer to the unknown command
// word.
func (f *fakeSlack) answered(user, word string) bool {
	for _, s := range f.said(user) {
		if strings.HasPrefix(s, fmt.Sprintf("unknown command %q", word)) {
			return true
		}
	}
	return false
}

func TestMentionDeploysOverSocketMode(t *testing.T) {
	e := start(t, "socket", `echo "step one"; echo "step <two> & more" >&2`, nil)
	c := e.fake.conn()
	send(t, e.fake, c, mention(t, "deploy web@"+sha+" to staging"))

	e.fake.waitFor(t, "a deploy", func() bool { return len(e.deploys(t)) == 1 })
	d := e.waitDeploy(t, e.deploys(t)[0].ID)
	if d.State != queue.StateSucceeded || d.User != "slack:U222" || d.ChatThread != "slack:C111:1610241741.000200" || d.Source != queue.SourceChat {
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
	send(t, e.fake, c, fixture(t, "socket-mode.events_api.app_mention.json"))
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
	for _, text := range []string{"depoly web", "deploy wbe to staging", "deploy web@$(id)"} {
		e.say(t, c, "U222", text)
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
	send(t, e.fake, c1, env)
	c1.Close() // the socket drops; Slack cannot know the ack arrived, so it delivers again

	c2 := e.fake.conn() // deployq reconnected by itself
	retry := withValue(t, env, 1, "retry_attempt")
	retry = withValue(t, retry, "timeout", "retry_reason")
	send(t, e.fake, c2, retry)
	e.handled(t, c2) // a later command on the same connection is handled after the redelivery
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
	send(t, e.fake, c2, mention(t, "deploy web@"+sha))
	e.fake.waitFor(t, "the deploy", func() bool { return len(e.deploys(t)) == 1 })
	e.fake.mu.Lock()
	opens := e.fake.opens
	e.fake.mu.Unlock()
	if opens < 2 {
		t.Fatalf("apps.connections.open called %d times", opens)
	}
}
