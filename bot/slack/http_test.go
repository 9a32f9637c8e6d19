package slack_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/bot/slack"
)

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
	// handled returns once deployq has handled every request made before:
	// it posts one more command and waits for its answer; deployq runs
	// commands one at a time, in the order they came.
	handled := func(t *testing.T, word string) {
		t.Helper()
		ev := withValue(t, fixture(t, "events-api.event_callback.app_mention.json"), "<@U111> "+word, "event", "text")
		if code, _ := post("/slack/events", withValue(t, ev, "Ev-"+word, "event_id"), now, "application/json"); code != 200 {
			t.Fatalf("%d", code)
		}
		e.fake.waitFor(t, "the answer to "+word, func() bool { return e.fake.answered("U222", word) })
	}

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
	t.Run("slash command, as it comes: the deploy form", func(t *testing.T) {
		code, body := post("/slack/commands", fixture(t, "slash-command.form.txt"), now, form)
		if code != 200 || body != "" {
			t.Fatalf("%d %q: the form answers", code, body)
		}
		v := e.fake.nthView(t, "views.open", 1)
		if v.TriggerID != "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c" || v.View.CallbackID != slack.CallbackDeploy ||
			v.View.PrivateMetadata != "G8PSS9T3V" {
			t.Fatalf("opened %s", v.raw)
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
		if len(ds) != 1 || ds[0].User != "slack:U2CERLKJA" || ds[0].ChatThread != "slack:G8PSS9T3V" {
			t.Fatalf("%+v", ds)
		}
		e.waitDeploy(t, ds[0].ID)
		e.fake.waitFor(t, "the message in the command's channel", func() bool {
			ps := e.fake.callsOf("chat.postMessage")
			return len(ps) > 0 && ps[0].Form.Get("channel") == "G8PSS9T3V"
		})
	})
	t.Run("slash command: a typo of a verb, an app by its repo", func(t *testing.T) {
		slash := func(text, trigger string) string {
			t.Helper()
			v, _ := url.ParseQuery(string(fixture(t, "slash-command.form.txt")))
			v.Set("text", text)
			v.Set("trigger_id", trigger)
			code, body := post("/slack/commands", []byte(v.Encode()), now, form)
			var reply struct{ Text string }
			if err := json.Unmarshal([]byte(body), &reply); code != 200 || err != nil {
				t.Fatalf("%d %s", code, body)
			}
			return reply.Text
		}
		want := "unknown command \"lcok\"; did you mean \"lock\"?\nusage: lock[!] ENV|APP in ENV [for DURATION] [: reason]"
		if got := slash("lcok staging", "398738663015.47445629121.typo"); got != want {
			t.Fatalf("/deploy lcok staging: %q", got)
		}
		before := len(e.deploys(t))
		if got := slash("acme/web@"+sha+" staging", "398738663015.47445629121.repo"); !strings.Contains(got, "queued: web 1111111 to staging") {
			t.Fatalf("/deploy acme/web@sha staging: %q", got)
		}
		ds := e.deploys(t)
		if len(ds) != before+1 || ds[0].App != "web" || ds[0].Env != "staging" {
			t.Fatalf("%+v", ds[0])
		}
		e.waitDeploy(t, ds[0].ID)
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
		handled(t, "after-redelivery")
		if n := len(e.deploys(t)) - before; n != 1 {
			t.Fatalf("%d deploys from one event delivered twice", n)
		}
	})
	interact := func(t *testing.T, p any) (int, string) {
		t.Helper()
		b, _ := json.Marshal(p)
		return post("/slack/interactive", []byte(url.Values{"payload": {string(b)}}.Encode()), now, form)
	}
	t.Run("the shortcut", func(t *testing.T) {
		var envelope map[string]any
		json.Unmarshal(withValue(t, fixture(t, "socket-mode.interactive.shortcut.json"), slack.CallbackDeploy, "payload", "callback_id"), &envelope)
		opened := len(e.fake.callsOf("views.open"))
		if code, body := interact(t, envelope["payload"]); code != 200 || body != "" {
			t.Fatalf("%d %q", code, body)
		}
		if v := e.fake.nthView(t, "views.open", opened+1); v.TriggerID != "111.222.xxx" || v.View.CallbackID != slack.CallbackDeploy {
			t.Fatalf("opened %s", v.raw)
		}
	})
	t.Run("a select in a form", func(t *testing.T) {
		var envelope map[string]any
		json.Unmarshal(viewAction(t, "U111", "V0HTTP", "1655863316.uFehmGP0", "", deployState("web", "staging", sha, nil),
			slack.ActionFormApp, "app", "web"), &envelope)
		if code, body := interact(t, envelope["payload"]); code != 200 || body != "" {
			t.Fatalf("%d %q", code, body)
		}
		e.fake.waitFor(t, "the form updated", func() bool {
			for _, v := range e.fake.viewCalls(t, "views.update") {
				if v.ViewID == "V0HTTP" && v.Hash == "1655863316.uFehmGP0" && contains(v, "runs in staging already") {
					return true
				}
			}
			return false
		})
	})
	t.Run("a form refused, in the response", func(t *testing.T) {
		p := submission(t, "U111", "768915595217.771150964790.http", slack.CallbackDeploy, "", deployState("web", "staging", "no-such-branch", nil))
		code, body := interact(t, p)
		if errs := formErrors(t, []byte(body)); code != 200 || len(errs) != 1 || !strings.Contains(errs["ref:web"], `resolve "no-such-branch"`) {
			t.Fatalf("%d %s", code, body)
		}
	})
	t.Run("the Home tab, as it comes", func(t *testing.T) {
		if code, _ := post("/slack/events", fixture(t, "events-api.event_callback.app_home_opened.json"), now, "application/json"); code != 200 {
			t.Fatalf("%d", code)
		}
		if v := e.fake.nthView(t, "views.publish", 1); v.UserID != "U12345678" || !contains(v, "*staging* · web") {
			t.Fatalf("published %s", v.raw)
		}
	})
	t.Run("buttons", func(t *testing.T) {
		click := func(p map[string]any) {
			t.Helper()
			b, _ := json.Marshal(p)
			if code, _ := post("/slack/interactive", []byte(url.Values{"payload": {string(b)}}.Encode()), now, form); code != 200 {
				t.Fatalf("%d", code)
			}
		}
		// the fixture's own button is not deployq's: nothing happens
		before := len(e.deploys(t))
		var p map[string]any
		json.Unmarshal(fixture(t, "interactive.block_actions.button.json"), &p)
		click(p)
		handled(t, "after-foreign-button")
		if n := len(e.deploys(t)); n != before || len(e.fake.said("UA8RXUSPL")) != 0 {
			t.Fatalf("a foreign button did something: %d deploys, answers %q", n-before, e.fake.said("UA8RXUSPL"))
		}
		// deployq's Roll back button on the last deploy's message: every
		// deploy so far has the same sha, so there is nothing to go back to
		last := e.deploys(t)[0]
		e.waitDeploy(t, last.ID)
		click(buttonPayload(t, slack.ActionRollback, fmt.Sprint(last.ID), "UA8RXUSPL", "12321423423.333649436676.another"))
		want := fmt.Sprintf("web in staging has no earlier successful deploy than #%d (1111111) to roll back to", last.ID)
		e.fake.waitFor(t, "the rollback's answer", func() bool {
			said := e.fake.said("UA8RXUSPL")
			return len(said) == 1 && said[0] == want
		})
	})
}
