package main_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
)

// fakeSlackAPI answers Slack's Web API from the adapter's fixtures and
// records what deployq said.
type fakeSlackAPI struct {
	mu    sync.Mutex
	calls []url.Values
	names []string
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

func TestSlackOverHTTPThroughTheBinary(t *testing.T) {
	fixtures := filepath.Join("..", "..", "bot", "slack", "testdata", "fixtures")
	answers := map[string]string{"auth.test": "auth.test.response.ok.json", "chat.postMessage": "chat.postMessage.response.ok.json",
		"chat.update": "chat.update.response.ok.json", "chat.postEphemeral": "chat.postEphemeral.response.ok.json"}
	f := &fakeSlackAPI{}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := strings.TrimPrefix(r.URL.Path, "/api/")
		r.ParseForm()
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
	defer api.Close()

	dir := t.TempDir()
	cfg := `slack:
  mode: http
  bot_token: "${SLACK_BOT_TOKEN}"
  signing_secret: "${SLACK_SIGNING_SECRET}"
  channel: CANNOUNCE
  api_url: ` + api.URL + `/api/
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
	body := v.Encode()
	post := func(sign bool) (int, string) {
		req, _ := http.NewRequest("POST", s.url+"/slack/commands", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sign {
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write([]byte("v0:" + ts + ":" + body))
			req.Header.Set("X-Slack-Request-Timestamp", ts)
			req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := post(false); code != 401 {
		t.Fatalf("unsigned: %d", code)
	}
	code, reply := post(true)
	if code != 200 || !strings.Contains(reply, "#1 queued: web") {
		t.Fatalf("%d %s", code, reply)
	}
	out, code2 := s.cli(t, nil, "", "logs", "-f", "1")
	if code2 != 0 || !strings.Contains(out, "hello slack") {
		t.Fatalf("%d %s", code2, out)
	}
	defer func() {
		if t.Failed() {
			t.Logf("Slack heard: %v", f.methods())
		}
	}()
	// The message may show "queued" first, or (a fast deploy) its end at once.
	queuetest.Eventually(t, "Slack hears the deploy through", func() bool {
		return f.said("chat.postMessage", `"block_id":"deploy"`) && (f.said("chat.update", "succeeded") || f.said("chat.postMessage", ":white_check_mark:")) &&
			f.said("chat.postMessage", "hello slack")
	})
}
