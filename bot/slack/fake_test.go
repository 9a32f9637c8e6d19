package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/bot/slack"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/store"
	"github.com/gorilla/websocket"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// call is one Web API call the fake received: a form, or a JSON body
// (the views.* methods).
type call struct {
	Method string
	Form   url.Values
	Body   json.RawMessage
}

func (c call) String() string {
	if c.Body != nil {
		return c.Method + " " + string(c.Body)
	}
	return fmt.Sprintf("%s %v", c.Method, c.Form)
}

// fakeSlack is a real HTTP server on 127.0.0.1 that answers Slack's Web
// API from the fixtures and serves a Socket Mode websocket.
type fakeSlack struct {
	t   testing.TB
	srv *httptest.Server

	mu      sync.Mutex
	calls   []call
	acks    map[string][]time.Time       // envelope id -> when its acks came
	ackPays map[string][]json.RawMessage // envelope id -> the payloads of its acks
	openErr bool                         // views.open answers its documented error
	limited map[string]int               // method -> 429s still to answer
	down    bool                         // every Web API call answers 503, as in an outage
	botID   string                       // auth.test's bot_id (the fixture has none)
	opens   int
	users   map[string][2]string // id -> name, email
	groups  map[string][]string  // handle -> user ids
	conns   chan *websocket.Conn
}

func newFakeSlack(t testing.TB) *fakeSlack {
	f := &fakeSlack{t: t, acks: map[string][]time.Time{}, ackPays: map[string][]json.RawMessage{}, limited: map[string]int{}, conns: make(chan *websocket.Conn, 8)}
	mux := http.NewServeMux()
	answers := map[string]string{
		"auth.test":          "auth.test.response.ok.json",
		"chat.postMessage":   "chat.postMessage.response.ok.json",
		"chat.update":        "chat.update.response.ok.json",
		"chat.postEphemeral": "chat.postEphemeral.response.ok.json",
		"views.open":         "views.open.response.ok.json",
		"views.update":       "views.update.response.ok.json",
		"views.publish":      "views.publish.response.ok.json",
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		method := strings.TrimPrefix(r.URL.Path, "/api/")
		r.ParseForm()
		f.mu.Lock()
		if f.down { // unheard: not a call Slack took
			f.mu.Unlock()
			http.Error(w, "service unavailable", http.StatusServiceUnavailable)
			return
		}
		var body []byte
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			body, _ = io.ReadAll(r.Body)
		}
		f.calls = append(f.calls, call{Method: method, Form: r.Form, Body: body})
		openErr := method == "views.open" && f.openErr
		limited := f.limited[method] > 0
		if limited {
			f.limited[method]--
		}
		if method == "apps.connections.open" {
			f.opens++
		}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case limited:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"ok":false,"error":"ratelimited"}`))
		case openErr:
			w.Write(fixture(t, "views.open.response.error.json"))
		case method == "auth.test" && f.botID != "":
			w.Write(withValue(t, fixture(t, answers[method]), f.botID, "bot_id"))
		case method == "apps.connections.open":
			// No fixture holds this answer; it is the documented shape.
			fmt.Fprintf(w, `{"ok":true,"url":"ws://%s/link"}`, r.Host)
		case method == "users.info" && f.users != nil:
			// No fixture holds these two answers; they follow the
			// documented shapes of users.info and usergroups.list.
			u, ok := f.users[r.Form.Get("user")]
			if !ok {
				w.Write([]byte(`{"ok":false,"error":"user_not_found"}`))
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"ok": true, "user": map[string]any{"id": r.Form.Get("user"),
				"name": u[0], "profile": map[string]any{"email": u[1]}}})
		case method == "users.lookupByEmail":
			// No fixture holds this answer; it follows the documented shape.
			for id, u := range f.users {
				if u[1] == r.Form.Get("email") {
					json.NewEncoder(w).Encode(map[string]any{"ok": true, "user": map[string]any{"id": id, "name": u[0]}})
					return
				}
			}
			w.Write([]byte(`{"ok":false,"error":"users_not_found"}`))
		case method == "usergroups.list" && f.groups != nil:
			var gs []map[string]any
			for handle, users := range f.groups {
				gs = append(gs, map[string]any{"id": "S" + handle, "handle": handle, "users": users})
			}
			json.NewEncoder(w).Encode(map[string]any{"ok": true, "usergroups": gs})
		case answers[method] != "":
			w.Write(fixture(t, answers[method]))
		default:
			w.Write([]byte(`{"ok":false,"error":"unknown_method"}`))
		}
	})
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	mux.HandleFunc("/link", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c.WriteMessage(websocket.TextMessage, fixture(t, "socket-mode.hello.json"))
		go func() {
			for {
				_, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				var ack struct {
					EnvelopeID string          `json:"envelope_id"`
					Payload    json.RawMessage `json:"payload"`
				}
				if json.Unmarshal(msg, &ack) == nil {
					f.mu.Lock()
					f.acks[ack.EnvelopeID] = append(f.acks[ack.EnvelopeID], time.Now())
					f.ackPays[ack.EnvelopeID] = append(f.ackPays[ack.EnvelopeID], ack.Payload)
					f.mu.Unlock()
				}
			}
		}()
		f.conns <- c
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSlack) apiURL() string { return f.srv.URL + "/api/" }

// setDown starts or ends an outage of the Web API.
func (f *fakeSlack) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

// conn waits for the next Socket Mode connection.
func (f *fakeSlack) conn() *websocket.Conn {
	f.t.Helper()
	select {
	case c := <-f.conns:
		return c
	case <-time.After(queuetest.Patience):
		f.t.Fatal("deployq never connected over Socket Mode")
		return nil
	}
}

func (f *fakeSlack) callsOf(method string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// ackPayload is the payload of the last ack of an envelope (nil: none).
func (f *fakeSlack) ackPayload(id string) json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.ackPays[id]; len(p) > 0 {
		return p[len(p)-1]
	}
	return nil
}

// acksOf says when the acks of an envelope came.
func (f *fakeSlack) acksOf(id string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.acks[id])
}

// waitFor waits until cond holds over the calls so far, and shows them
// when it never does.
func (f *fakeSlack) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	defer func() {
		if t.Failed() {
			f.mu.Lock()
			defer f.mu.Unlock()
			t.Logf("calls: %v", f.calls)
		}
	}()
	queuetest.Eventually(t, what, cond)
}

// said returns the texts of the ephemeral replies to a user, in order.
func (f *fakeSlack) said(user string) []string {
	var texts []string
	for _, r := range f.callsOf("chat.postEphemeral") {
		if r.Form.Get("user") == user {
			texts = append(texts, r.Form.Get("text"))
		}
	}
	return texts
}

const sha = "1111111111111111111111111111111111111111"

type env struct {
	svc   *queue.Service
	slack *slack.Adapter
	fake  *fakeSlack
	st    *store.Store
	sent  int // commands and clicks sent with ids of their own
}

// start runs a real queue (SQLite, shell runner) with the Slack adapter
// against the fake.
func start(t testing.TB, mode, command string, tweak func(*slack.Adapter)) *env {
	return startWith(t, mode, command, tweak, nil)
}

func startWith(t testing.TB, mode, command string, tweak func(*slack.Adapter), setup func(*fakeSlack, *queue.Environment),
	queueTweak ...func(*queue.Options)) *env {
	t.Helper()
	return startConfigured(t, mode, command, nil, tweak, setup, queueTweak...)
}

// startConfigured is startWith with the adapter's config changed first.
func startConfigured(t testing.TB, mode, command string, configure func(*slack.Config), tweak func(*slack.Adapter),
	setup func(*fakeSlack, *queue.Environment), queueTweak ...func(*queue.Options)) *env {
	t.Helper()
	return startApps(t, mode, command, configure, tweak, func(f *fakeSlack, staging *queue.Environment) []*queue.App {
		if setup != nil {
			setup(f, staging)
		}
		return []*queue.App{{Name: "web", Repo: "acme/web", DefaultRef: "main", DefaultEnv: "staging", Environments: []*queue.Environment{staging}}}
	}, queueTweak...)
}

// startApps is startConfigured with the apps that apps returns; staging
// is the shell environment that runs command.
func startApps(t testing.TB, mode, command string, configure func(*slack.Config), tweak func(*slack.Adapter),
	apps func(f *fakeSlack, staging *queue.Environment) []*queue.App, queueTweak ...func(*queue.Options)) *env {
	t.Helper()
	fake := newFakeSlack(t)
	cfg := slack.Config{Mode: mode, BotToken: "xoxb-test", AppToken: "xapp-test", SigningSecret: secret,
		Channel: "CANNOUNCE", APIURL: fake.apiURL(), BaseURL: "http://deployq.test"}
	if configure != nil {
		configure(&cfg)
	}
	a := slack.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	a.PostInterval = 50 * time.Millisecond
	if tweak != nil {
		tweak(a)
	}
	q := queuetest.Start(t, apps(fake, queuetest.Shell("staging", command)), func(o *queue.Options) {
		o.Notifiers, o.Identify = []queue.Notifier{a}, a.Identify
		o.Observers = append(o.Observers, a.HomeWatcher())
		for _, f := range queueTweak {
			f(o)
		}
	})
	ctx, cancel := context.WithCancel(q.Ctx)
	a.Start(ctx, q.Svc, bot.New(q.Svc, "http://deployq.test"))
	t.Cleanup(func() { // before the queue's own cleanup closes the store
		q.Svc.Stop()
		cancel()
		a.Wait()
	})
	return &env{svc: q.Svc, slack: a, fake: fake, st: q.Store}
}

// waitDeploy follows a deploy to its end.
func (e *env) waitDeploy(t testing.TB, id int64) *queue.Deploy {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := e.svc.FollowLog(ctx, id, 0, func([]queue.LogLine) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (e *env) deploys(t testing.TB) []*queue.Deploy {
	ds, err := e.svc.Deploys(context.Background(), queue.DeployFilter{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// withText returns a copy of a JSON fixture with the value at path set.
func withValue(t testing.TB, raw []byte, value any, path ...string) []byte {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	m := v
	for _, p := range path[:len(path)-1] {
		m = m[p].(map[string]any)
	}
	m[path[len(path)-1]] = value
	b, _ := json.Marshal(v)
	return b
}
