package notify_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deployq/deployq/config"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/notify"
	"github.com/deployq/deployq/queue"
)

// request is one request a receiver took.
type request struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

// receiver is a local HTTP server that keeps what it is sent and answers
// with answer (200 and nothing when nil).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []request
	answer func(r request, n int) (int, string)
}

func newReceiver(t *testing.T, answer func(r request, n int) (int, string)) *receiver {
	rc := &receiver{answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
		rc.mu.Lock()
		n := len(rc.got)
		rc.mu.Unlock()
		code, text := 200, ""
		if rc.answer != nil {
			code, text = rc.answer(req, n)
		}
		if code/100 == 2 {
			rc.mu.Lock()
			rc.got = append(rc.got, req)
			rc.mu.Unlock()
		}
		w.WriteHeader(code)
		io.WriteString(w, text)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// waitFor waits until the receiver took n requests and returns them.
func (rc *receiver) waitFor(t *testing.T, n int) []request {
	t.Helper()
	queuetest.Eventually(t, strconv.Itoa(n)+" requests", func() bool { return len(rc.requests()) >= n })
	return rc.requests()
}

func sha(n int) string { return strings.Repeat(strconv.Itoa(n%10), 40) }

// start runs a queue with one app (web in production, whose deploys run
// command) announcing to sinks.
func start(t *testing.T, dir, command string, sinks ...notify.Sink) (*queuetest.Env, *notify.Notifier) {
	n := notify.New(sinks, "http://deployq.example", nil)
	n.SetMinBackoff(10 * time.Millisecond)
	apps := []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "production",
		Environments: []*queue.Environment{queuetest.Shell("production", command)}}}
	e := queuetest.StartIn(t, dir, apps, func(o *queue.Options) { o.Notifiers = append(o.Notifiers, n) },
		func(svc *queue.Service) { n.Start(t.Context(), svc) })
	return e, n
}

func eventOf(t *testing.T, r request) notify.Event {
	t.Helper()
	var e notify.Event
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("%s: %v", r.Body, err)
	}
	return e
}

// The webhook gets each event of a deploy in order, signed as the README
// says; a delivery it answered with 503 comes again.
func TestWebhook(t *testing.T) {
	const secret = "webhook-secret"
	var startedTries atomic.Int32
	rc := newReceiver(t, func(r request, n int) (int, string) {
		ts, sig := r.Header.Get(notify.HeaderTimestamp), r.Header.Get(notify.HeaderSignature)
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute || sig != notify.Sign(secret, ts, r.Body) {
			return 401, "bad signature"
		}
		if r.Header.Get(notify.HeaderEvent) == "started" && startedTries.Add(1) == 1 {
			return 503, "busy" // once: the started event comes again, and the end after it
		}
		return 200, ""
	})
	e, _ := start(t, t.TempDir(), "true", notify.Sink{Name: "ops", Kind: notify.KindWebhook, URL: rc.URL + "/hook", Secret: secret})
	d, err := e.Svc.Submit(t.Context(), queue.Request{App: "web", Env: "production", Ref: sha(1), SHA: sha(1), User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	e.Wait(t, d.ID)
	got := rc.waitFor(t, 3)
	var events []string
	for _, r := range got {
		ev := eventOf(t, r)
		events = append(events, ev.Event)
		if ev.Deploy == nil || ev.Deploy.ID != d.ID || ev.Deploy.URL != "http://deployq.example/#/deploy/1" || r.Header.Get(notify.HeaderEvent) != ev.Event {
			t.Fatalf("event %+v, headers %v", ev, r.Header)
		}
	}
	if strings.Join(events, ",") != "queued,started,succeeded" {
		t.Fatalf("events %v", events)
	}
	if _, _, err := e.Svc.Lock(t.Context(), queue.LockRequest{Env: "production", Owner: "bob", Reason: "db migration"}); err != nil {
		t.Fatal(err)
	}
	got = rc.waitFor(t, 4)
	if ev := eventOf(t, got[3]); ev.Event != "locked" || ev.Lock == nil || ev.Lock.Owner != "bob" || ev.Text != "production locked by bob: db migration" {
		t.Fatalf("lock event %+v", ev)
	}
}

// A sink hears only the events it lists; a 4xx is not sent again.
func TestEventsFilterAndGivingUp(t *testing.T) {
	var refused sync.Once
	gone := make(chan struct{})
	bad := newReceiver(t, func(request, int) (int, string) {
		refused.Do(func() { close(gone) })
		return 404, "no such hook"
	})
	good := newReceiver(t, nil)
	e, _ := start(t, t.TempDir(), `test "$DEPLOY_SHA" != `+sha(2),
		notify.Sink{Name: "failures", Kind: notify.KindWebhook, URL: good.URL, Events: []string{"failed"}},
		notify.Sink{Name: "gone", Kind: notify.KindWebhook, URL: bad.URL, Events: []string{"queued"}})
	for _, n := range []int{1, 2} {
		d, err := e.Svc.Submit(t.Context(), queue.Request{App: "web", Env: "production", Ref: sha(n), SHA: sha(n), User: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		e.Wait(t, d.ID)
	}
	got := good.waitFor(t, 1)
	if ev := eventOf(t, got[0]); ev.Event != "failed" || ev.Deploy.SHA != sha(2) {
		t.Fatalf("%+v", ev)
	}
	queuetest.Receive(t, "the refusing sink asked", gone)
	queuetest.Eventually(t, "the refused messages given up", func() bool {
		_, ok, err := e.Store.OutboxNext(t.Context(), "notify:gone:")
		return err == nil && !ok
	})
}

// A Mattermost bot (token and channel): a deploy's first event is a post
// to the channel through the REST API, with the token; the next ones
// patch that post; a lock is a post of its own.
func TestMattermostBotEditsInPlace(t *testing.T) {
	created, err := os.ReadFile("testdata/mattermost.post.created.json")
	if err != nil {
		t.Fatal(err)
	}
	mm := newReceiver(t, func(r request, n int) (int, string) {
		if r.Method == "POST" {
			return 201, string(created)
		}
		return 200, string(created)
	})
	e, _ := start(t, t.TempDir(), "true", notify.Sink{Name: "mm-bot", Kind: notify.KindMattermost, URL: mm.URL + "/",
		Token: "t0ken", Channel: "yuko5hzu7jdcineenpafttbbzw"})
	d, err := e.Svc.Submit(t.Context(), queue.Request{App: "web", Env: "production", Ref: sha(1), SHA: sha(1), User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	e.Wait(t, d.ID)
	got := mm.waitFor(t, 3)
	for i, r := range got {
		if r.Header.Get("Authorization") != "Bearer t0ken" || r.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("request %d: %v", i, r.Header)
		}
	}
	var first struct {
		ChannelID string `json:"channel_id"`
		Message   string `json:"message"`
	}
	if err := json.Unmarshal(got[0].Body, &first); err != nil || got[0].Method != "POST" || got[0].Path != "/api/v4/posts" ||
		first.ChannelID != "yuko5hzu7jdcineenpafttbbzw" || !strings.Contains(first.Message, "queued") {
		t.Fatalf("first: %s %s %s", got[0].Method, got[0].Path, got[0].Body)
	}
	for _, r := range got[1:] {
		if r.Method != "PUT" || r.Path != "/api/v4/posts/u1teeaduyinbjf3n5brjbfoiyw/patch" {
			t.Fatalf("then: %s %s", r.Method, r.Path)
		}
	}
	var last map[string]string
	if err := json.Unmarshal(got[2].Body, &last); err != nil || len(last) != 1 ||
		!strings.Contains(last["message"], "succeeded ([#1](http://deployq.example/#/deploy/1))") {
		t.Fatalf("the last patch: %s", got[2].Body)
	}
	if _, _, err := e.Svc.Lock(t.Context(), queue.LockRequest{Env: "production", Owner: "alice", Reason: "db migration"}); err != nil {
		t.Fatal(err)
	}
	lock := mm.waitFor(t, 4)[3]
	if lock.Method != "POST" || lock.Path != "/api/v4/posts" || !strings.Contains(string(lock.Body), "db migration") {
		t.Fatalf("the lock: %s %s %s", lock.Method, lock.Path, lock.Body)
	}
}

// Discord: a deploy's first event is posted (wait=true), the next ones
// edit that message; Mattermost and Teams get a message each, in their
// documented shapes.
func TestChatSinks(t *testing.T) {
	example, err := os.ReadFile("testdata/discord.message.example.json")
	if err != nil {
		t.Fatal(err)
	}
	discord := newReceiver(t, func(r request, n int) (int, string) { return 200, string(example) })
	mattermost := newReceiver(t, func(request, int) (int, string) { return 200, "ok" })
	teams := newReceiver(t, func(request, int) (int, string) { return 202, "" })
	e, _ := start(t, t.TempDir(), "true",
		notify.Sink{Name: "discord", Kind: notify.KindDiscord, URL: discord.URL + "/api/webhooks/1/token"},
		notify.Sink{Name: "mm", Kind: notify.KindMattermost, URL: mattermost.URL + "/hooks/xyz"},
		notify.Sink{Name: "teams", Kind: notify.KindTeams, URL: teams.URL + "/workflows/abc"})
	d, err := e.Svc.Submit(t.Context(), queue.Request{App: "web", Env: "production", Ref: sha(1), SHA: sha(1), User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	e.Wait(t, d.ID)

	got := discord.waitFor(t, 3)
	if got[0].Method != "POST" || got[0].Path != "/api/webhooks/1/token" || got[0].Query != "wait=true" {
		t.Fatalf("first: %s %s?%s", got[0].Method, got[0].Path, got[0].Query)
	}
	for _, r := range got[1:] {
		if r.Method != "PATCH" || r.Path != "/api/webhooks/1/token/messages/334385199974967042" {
			t.Fatalf("then: %s %s", r.Method, r.Path)
		}
	}
	var last struct {
		Content         string         `json:"content"`
		AllowedMentions map[string]any `json:"allowed_mentions"`
	}
	json.Unmarshal(got[2].Body, &last)
	if !strings.Contains(last.Content, "#1 web@"+sha(1)+" (1111111) to production by alice: succeeded") || last.AllowedMentions == nil {
		t.Fatalf("the last edit: %s", got[2].Body)
	}

	mm := mattermost.waitFor(t, 3)
	var post struct{ Text, Username string }
	json.Unmarshal(mm[2].Body, &post)
	if !strings.Contains(post.Text, "succeeded ([#1](http://deployq.example/#/deploy/1))") || post.Username != "deployq" {
		t.Fatalf("mattermost: %s", mm[2].Body)
	}

	tm := teams.waitFor(t, 3)
	var card struct {
		Type        string
		Attachments []struct {
			ContentType string
			Content     struct {
				Type, Version string
				Body          []map[string]any
				Actions       []map[string]any
			}
		}
	}
	if err := json.Unmarshal(tm[2].Body, &card); err != nil || card.Type != "message" || len(card.Attachments) != 1 ||
		card.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" || card.Attachments[0].Content.Type != "AdaptiveCard" ||
		len(card.Attachments[0].Content.Actions) != 1 || card.Attachments[0].Content.Actions[0]["url"] != "http://deployq.example/#/deploy/1" {
		t.Fatalf("teams: %v %s", err, tm[2].Body)
	}
}

// What a sink could not take stays in the outbox across a restart, and
// goes once the sink answers, in order.
func TestSurvivesRestart(t *testing.T) {
	var down sync.Mutex
	isDown := true
	rc := newReceiver(t, func(request, int) (int, string) {
		down.Lock()
		defer down.Unlock()
		if isDown {
			return 503, "down"
		}
		return 200, ""
	})
	dir := t.TempDir()
	sink := notify.Sink{Name: "ops", Kind: notify.KindWebhook, URL: rc.URL}
	e, _ := start(t, dir, "true", sink)
	d, err := e.Svc.Submit(t.Context(), queue.Request{App: "web", Env: "production", Ref: sha(1), SHA: sha(1), User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	e.Wait(t, d.ID)
	e.Svc.Stop()
	down.Lock()
	isDown = false
	down.Unlock()
	start(t, dir, "true", sink)
	got := rc.waitFor(t, 3)
	var events []string
	for _, r := range got {
		events = append(events, eventOf(t, r).Event)
	}
	if strings.Join(events, ",") != "queued,started,succeeded" {
		t.Fatalf("events %v", events)
	}
}

// The kinds and events the config takes are the notifier's.
func TestConfigKnowsTheSinks(t *testing.T) {
	if !slices.Equal(config.NotifyKinds, notify.Kinds) || !slices.Equal(config.NotifyEvents, notify.Events) {
		t.Fatalf("config %v %v, notify %v %v", config.NotifyKinds, config.NotifyEvents, notify.Kinds, notify.Events)
	}
}
