package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/notify"
)

// A webhook sink from the config hears of a deploy through the binary,
// signed with the secret from the environment, and of a lock; a
// Mattermost bot posts the deploy's start and edits it with its end.
func TestNotifyThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	const secret = "a-webhook-secret"
	var mu sync.Mutex
	var events []string
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts := r.Header.Get(notify.HeaderTimestamp)
		if r.Header.Get(notify.HeaderSignature) != notify.Sign(secret, ts, body) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var e notify.Event
		json.Unmarshal(body, &e)
		mu.Lock()
		events = append(events, e.Event)
		mu.Unlock()
	}))
	defer rc.Close()
	created, err := os.ReadFile("testdata/mattermost/post.created.json")
	if err != nil {
		t.Fatal(err)
	}
	var posts []string // a Mattermost bot's calls: method, path and token
	mm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		posts = append(posts, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		}
		w.Write(created)
	}))
	defer mm.Close()
	cfg := `notify:
  - {name: ops, kind: webhook, url: "` + rc.URL + `", secret: "${HOOK_SECRET}", events: [started, succeeded, locked]}
  - {name: chat, kind: mattermost, url: "` + mm.URL + `", token: "${MM_TOKEN}", channel: yuko5hzu7jdcineenpafttbbzw, events: [started, succeeded]}
apps:
  - name: web
    environments:
      - name: production
        runner: shell
        shell: {command: "echo deployed"}
`
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	s := startServer(t, dir, []string{"HOOK_SECRET=" + secret, "MM_TOKEN=bot-t0ken"})
	mustContain(t, "deploy", s.cliOK(t, []string{"USER=alice"}, "deploy", "-f", "web@"+strings.Repeat("e", 40)), "succeeded")
	s.cliOK(t, []string{"USER=alice"}, "lock", "production", ":", "release")
	queuetest.Eventually(t, "the three events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(events, ",") == "started,succeeded,locked"
	})
	queuetest.Eventually(t, "the bot's post and its edit", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(posts, ",") == "POST /api/v4/posts Bearer bot-t0ken,PUT /api/v4/posts/u1teeaduyinbjf3n5brjbfoiyw/patch Bearer bot-t0ken"
	})
}
