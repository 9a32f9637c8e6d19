package main_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deployq/deployq/client"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// fakeSlackAPI answers Slack's Web API from the adapter's fixtures and
// records what deployq said. While down, it answers every call 503, as
// Slack does in an outage.
type fakeSlackAPI struct {
	url   string // ends with /api/
	down  atomic.Bool
	mu    sync.Mutex
	calls []url.Values
	names []string
}

func newFakeSlackAPI(t *testing.T) *fakeSlackAPI {
	fixtures := filepath.Join("..", "..", "bot", "slack", "testdata", "fixtures")
	answers := map[string]string{"auth.test": "auth.test.response.ok.json", "chat.postMessage": "chat.postMessage.response.ok.json",
		"chat.update": "chat.update.response.ok.json", "chat.postEphemeral": "chat.postEphemeral.response.ok.json"}
	f := &fakeSlackAPI{}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := strings.TrimPrefix(r.URL.Path, "/api/")
		r.ParseForm()
		if f.down.Load() {
			http.Error(w, "service unavailable", http.StatusServiceUnavailable)
			return
		}
		f.mu.Lock()
		f.calls, f.names = append(f.calls, r.Form), append(f.names, method)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if answers[method] == "" {
			w.Write([]byte(`{"ok":false,"error":"unknown_method"}`))
			return
		}
		b, _ := os.ReadFile(filepath.Join(fixtures, answers[method]))
		w.Write(b)
	}))
	t.Cleanup(api.Close)
	f.url = api.URL + "/api/"
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Slack heard: %v", f.methods())
		}
	})
	return f
}

func (f *fakeSlackAPI) said(method, substr string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, c := range f.calls {
		if f.names[i] == method && strings.Contains(c.Get("blocks")+c.Get("text"), substr) {
			return true
		}
	}
	return false
}

func (f *fakeSlackAPI) methods() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.names...)
}

// slackRequest is a request signed as Slack signs them; sent again as it
// is, it is a replay.
type slackRequest struct{ path, contentType, body, ts, sig string }

func signSlack(secret, path, contentType, body string, at time.Time) slackRequest {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":" + body))
	return slackRequest{path: path, contentType: contentType, body: body, ts: ts, sig: "v0=" + hex.EncodeToString(mac.Sum(nil))}
}

// send posts the request to the server at base.
func (r slackRequest) send(t *testing.T, base string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+r.path, strings.NewReader(r.body))
	req.Header.Set("Content-Type", r.contentType)
	if r.sig != "" {
		req.Header.Set("X-Slack-Request-Timestamp", r.ts)
		req.Header.Set("X-Slack-Signature", r.sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSlackOverHTTPThroughTheBinary(t *testing.T) {
	fixtures := filepath.Join("..", "..", "bot", "slack", "testdata", "fixtures")
	f := newFakeSlackAPI(t)
	dir := t.TempDir()
	cfg := `slack:
  mode: http
  bot_token: "${SLACK_BOT_TOKEN}"
  signing_secret: "${SLACK_SIGNING_SECRET}"
  channel: CANNOUNCE
  api_url: ` + f.url + `
apps:
  - name: web
    environments:
      - name: staging
        runner: shell
        shell: {command: "echo hello slack"}
`
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	const secret = "e2e-signing-secret"
	s := startServer(t, dir, []string{"SLACK_BOT_TOKEN=xoxb-e2e", "SLACK_SIGNING_SECRET=" + secret})

	form, _ := os.ReadFile(filepath.Join(fixtures, "slash-command.form.txt"))
	v, _ := url.ParseQuery(string(form))
	v.Set("text", "web@"+strings.Repeat("e", 40)+" to staging")
	cmd := signSlack(secret, "/slack/commands", "application/x-www-form-urlencoded", v.Encode(), time.Now())
	unsigned := cmd
	unsigned.sig = ""
	if code, _ := unsigned.send(t, s.url); code != 401 {
		t.Fatalf("unsigned: %d", code)
	}
	code, reply := cmd.send(t, s.url)
	if code != 200 || !strings.Contains(reply, "#1 queued: web") {
		t.Fatalf("%d %s", code, reply)
	}
	out, code2 := s.cli(t, nil, "", "logs", "-f", "1")
	if code2 != 0 || !strings.Contains(out, "hello slack") {
		t.Fatalf("%d %s", code2, out)
	}
	// The message may show "queued" first, or (a fast deploy) its end at once.
	queuetest.Eventually(t, "Slack hears the deploy through", func() bool {
		return f.said("chat.postMessage", `"block_id":"deploy"`) && (f.said("chat.update", "succeeded") || f.said("chat.postMessage", ":white_check_mark:")) &&
			f.said("chat.postMessage", "hello slack")
	})
}

// httpModeSecret is the signing secret of httpModeConfig.
const httpModeSecret = "e2e-signing-secret"

// httpModeConfig is a config with Slack in HTTP mode, its Web API the fake,
// and one app whose staging runs command.
func httpModeConfig(f *fakeSlackAPI, command string) string {
	return `slack:
  mode: http
  bot_token: xoxb-e2e
  signing_secret: ` + httpModeSecret + `
  channel: CANNOUNCE
  api_url: ` + f.url + `
apps:
  - name: web
    environments:
      - name: staging
        runner: shell
        shell: {command: "` + command + `"}
`
}

// Slack is down when deployq starts: deployq starts anyway, says Slack is
// degraded, deploys through the API meanwhile, and once Slack answers,
// the deploy's message appears, showing how it ended.
func TestSlackOutageAtStart(t *testing.T) {
	f := newFakeSlackAPI(t)
	f.down.Store(true)
	m := MustRunMain(t, httpModeConfig(f, "echo deployed while Slack was down"))
	health := func() (status, slack string) {
		var h struct {
			Status   string            `json:"status"`
			Degraded map[string]string `json:"degraded"`
		}
		resp, err := http.Get(m.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || resp.StatusCode != 200 {
			t.Fatalf("/healthz: %d %v", resp.StatusCode, err)
		}
		return h.Status, h.Degraded["slack"]
	}
	partUp := func() string {
		resp, err := http.Get(m.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return regexp.MustCompile(`deployq_part_up\{part="slack"\} (\d)`).FindStringSubmatch(string(b))[1]
	}
	queuetest.Eventually(t, "/healthz saying why Slack is degraded", func() bool {
		status, why := health()
		return status == "degraded" && strings.Contains(why, "auth.test") && strings.Contains(why, "503")
	})
	if up := partUp(); up != "0" {
		t.Fatalf("deployq_part_up{part=\"slack\"} %s while Slack is down", up)
	}

	c := &client.Client{Base: m.URL, User: "alice"}
	d, err := c.Deploy(t.Context(), "web", "", strings.Repeat("5", 40), false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if d, err = c.Log(t.Context(), d.ID, true, &out); err != nil || d.State != queue.StateSucceeded {
		t.Fatalf("the deploy without Slack: %+v %v\n%s", d, err, out.String())
	}
	if f.said("chat.postMessage", "") {
		t.Fatal("Slack was down, it cannot have heard")
	}

	f.down.Store(false)
	queuetest.Eventually(t, "/healthz ok once Slack answers", func() bool {
		status, _ := health()
		return status == "ok"
	})
	if up := partUp(); up != "1" {
		t.Fatalf("deployq_part_up{part=\"slack\"} %s once Slack answers", up)
	}
	queuetest.Eventually(t, "the deploy's message, showing its end", func() bool {
		return f.said("chat.postMessage", `"block_id":"deploy"`) && (f.said("chat.postMessage", ":white_check_mark:") || f.said("chat.update", "succeeded"))
	})
}

// A signed command and a signed event, replayed after a restart (a second
// server on the same data directory): neither deploys again.
func TestSlackReplayAfterRestart(t *testing.T) {
	fixtures := filepath.Join("..", "..", "bot", "slack", "testdata", "fixtures")
	f := newFakeSlackAPI(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(httpModeConfig(f, "echo deployed")), 0o644)

	form, _ := os.ReadFile(filepath.Join(fixtures, "slash-command.form.txt"))
	v, _ := url.ParseQuery(string(form))
	v.Set("text", "web@"+strings.Repeat("a", 40)+" to staging")
	slash := signSlack(httpModeSecret, "/slack/commands", "application/x-www-form-urlencoded", v.Encode(), time.Now())
	mention := func(id, text string) slackRequest {
		var ev map[string]any
		if err := json.Unmarshal(mustRead(t, filepath.Join(fixtures, "events-api.event_callback.app_mention.json")), &ev); err != nil {
			t.Fatal(err)
		}
		ev["event_id"] = id
		ev["event"].(map[string]any)["text"] = "<@U111> " + text
		b, _ := json.Marshal(ev)
		return signSlack(httpModeSecret, "/slack/events", "application/json", string(b), time.Now())
	}
	event := mention("Ev-replayed", "deploy web@"+strings.Repeat("b", 40))
	deploys := func(base string) int {
		resp, err := http.Get(base + "/api/v1/deploys")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ds []map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&ds); err != nil {
			t.Fatal(err)
		}
		return len(ds)
	}

	s := startServer(t, dir, nil)
	if code, reply := slash.send(t, s.url); code != 200 || !strings.Contains(reply, "#1 queued") {
		t.Fatalf("the command: %d %s", code, reply)
	}
	if code, _ := event.send(t, s.url); code != 200 {
		t.Fatalf("the event: %d", code)
	}
	queuetest.Eventually(t, "the event's deploy", func() bool { return deploys(s.url) == 2 })
	s.stop(t)

	s = startServer(t, dir, nil)
	if code, reply := slash.send(t, s.url); code != 200 || strings.Contains(reply, "queued") {
		t.Fatalf("the command replayed: %d %s", code, reply)
	}
	if code, _ := event.send(t, s.url); code != 200 {
		t.Fatalf("the event replayed: %d", code)
	}
	// Events run in the order they came: once this one is answered, the
	// replay before it was handled.
	if code, _ := mention("Ev-after", "ping").send(t, s.url); code != 200 {
		t.Fatalf("the last event: %d", code)
	}
	queuetest.Eventually(t, "the answer to the last event", func() bool { return f.said("chat.postEphemeral", "unknown command") })
	if n := deploys(s.url); n != 2 {
		t.Fatalf("%d deploys after the replays, want 2", n)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
