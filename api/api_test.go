package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/api"
	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

const sha1 = "1111111111111111111111111111111111111111"

// server is the API of a real queue on a test HTTP server.
type server struct {
	url    string
	q      *queuetest.Env
	api    *api.Server
	client *http.Client // nil: http.DefaultClient
}

// serve starts the API of q with o on a test HTTP server, closed when the
// test ends.
func serve(t testing.TB, q *queuetest.Env, o api.Options) *server {
	o.Service = q.Svc
	h := api.New(o)
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &server{url: ts.URL, q: q, api: h}
}

// newServer serves web (staging, production: command on the shell
// runner) with metrics, the chat bot and a handler that panics at /boom.
func newServer(t testing.TB, command string, tokens map[string]string) *server {
	metrics := api.NewMetrics()
	apps := []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "staging", Environments: []*queue.Environment{
		queuetest.Shell("staging", command), queuetest.Shell("production", command),
	}}}
	q := queuetest.Start(t, apps, func(o *queue.Options) { o.Notifiers = []queue.Notifier{metrics} })
	metrics.Watch(q.Svc)
	b := bot.New(q.Svc, "")
	return serve(t, q, api.Options{Tokens: tokens, Metrics: metrics,
		BaseURL: "http://deployq.test",
		Chat: func(ctx context.Context, user, text string) (string, *queue.Deploy, error) {
			r := b.Handle(ctx, bot.Message{User: user, Text: text})
			return r.Text, r.Deploy, r.Err
		},
		Mount: map[string]http.Handler{"/boom": http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })},
	})
}

type response struct {
	status int
	body   string
	header http.Header
}

// do sends a request with headers given as name, value pairs; a body is
// JSON unless they say otherwise.
func (s *server) do(t *testing.T, method, path, body string, hdr ...string) response {
	t.Helper()
	req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := s.client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, string(b), resp.Header}
}

// errCode is "code: message" of a JSON error.
func errCode(t *testing.T, r response) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(r.body), &e); err != nil {
		t.Fatalf("not a JSON error: %d %s", r.status, r.body)
	}
	return e.Error.Code + ": " + e.Error.Message
}

func TestDeployLifecycle(t *testing.T) {
	s := newServer(t, "echo hello from {env}; echo warn >&2", nil)
	r := s.do(t, "POST", "/api/v1/deploys", `{"app":"web","ref":"`+sha1+`"}`, "X-Deployq-User", "alice")
	if r.status != 202 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var d map[string]any
	json.Unmarshal([]byte(r.body), &d)
	for _, k := range []string{"id", "number", "app", "env", "ref", "sha", "previous_sha", "state", "user", "source", "force", "created_at", "error", "log_url"} {
		if _, ok := d[k]; !ok {
			t.Errorf("deploy JSON lacks %q: %s", k, r.body)
		}
	}
	if d["user"] != "alice" || d["env"] != "staging" || d["source"] != "api" || d["log_url"] != "http://deployq.test/api/v1/deploys/1/log" {
		t.Fatalf("deploy %s", r.body)
	}
	if _, ok := d["finished_at"]; ok {
		t.Fatal("unset time present")
	}
	s.q.Wait(t, 1)
	r = s.do(t, "GET", "/api/v1/deploys/1/log", "")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("%d %v", r.status, r.header)
	}
	if !strings.Contains(r.body, " stdout hello from staging\n") || !strings.Contains(r.body, " stderr warn\n") ||
		!strings.Contains(r.body, "system deploy #1 succeeded") {
		t.Fatalf("log:\n%s", r.body)
	}
	r = s.do(t, "GET", "/api/v1/deploys?app=web&state=succeeded&limit=5", "")
	var list []map[string]any
	json.Unmarshal([]byte(r.body), &list)
	if len(list) != 1 || list[0]["state"] != "succeeded" {
		t.Fatalf("list %s", r.body)
	}
	r = s.do(t, "GET", "/api/v1/environments", "")
	var envs []map[string]any
	json.Unmarshal([]byte(r.body), &envs)
	if len(envs) != 2 || envs[0]["current"].(map[string]any)["sha"] != sha1 || envs[1]["current"] != nil || envs[0]["lock"] != nil {
		t.Fatalf("environments %s", r.body)
	}
	if c := s.do(t, "POST", "/api/v1/deploys/1/cancel", ""); c.status != 409 || !strings.HasPrefix(errCode(t, c), "conflict: deploy #1 already succeeded") {
		t.Fatalf("cancel finished: %d %s", c.status, c.body)
	}
	if c := s.do(t, "POST", "/api/v1/deploys/1/continue", ""); c.status != 409 || !strings.HasPrefix(errCode(t, c), "conflict: #1 is succeeded, not paused") {
		t.Fatalf("continue finished: %d %s", c.status, c.body)
	}
	// The metrics count the end when the queue notifies them, which can
	// come just after the log has ended.
	wants := []string{`deployq_deploys_total{state="succeeded"} 1`, `deployq_queue_depth{app="web",env="staging"} 0`,
		`deployq_deploy_duration_seconds_count{state="succeeded"} 1`}
	queuetest.Eventually(t, "metrics with "+strings.Join(wants, ", "), func() bool {
		m := s.do(t, "GET", "/metrics", "")
		return !slices.ContainsFunc(wants, func(want string) bool { return !strings.Contains(m.body, want) })
	})
}

func TestBadRequests(t *testing.T) {
	s := newServer(t, "true", nil)
	s.do(t, "POST", "/api/v1/locks", `{"env":"production","reason":"incident 7"}`, "X-Deployq-User", "carol")
	big := `{"app":"web","ref":"` + strings.Repeat("a", api.MaxBody) + `"}`
	cases := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"ErrMalformedJSON", "POST", "/api/v1/deploys", `{"app":`, 400, "invalid: malformed JSON body"},
		{"ErrUnknownField", "POST", "/api/v1/deploys", `{"app":"web","reff":"x"}`, 400, `invalid: malformed JSON body: json: unknown field "reff"`},
		{"ErrNoApp", "POST", "/api/v1/deploys", `{}`, 400, "invalid: app is required"},
		{"ErrUnknownApp", "POST", "/api/v1/deploys", `{"app":"wbe"}`, 404, `not_found: unknown app "wbe" (apps: web)`},
		{"ErrUnknownEnv", "POST", "/api/v1/deploys", `{"app":"web","env":"prod"}`, 404, `not_found: web has no environment "prod"`},
		{"ErrInjectedRef", "POST", "/api/v1/deploys", `{"app":"web","ref":"main;rm -rf /"}`, 400, `invalid: invalid ref "main;rm -rf /"`},
		{"ErrSubshellRef", "POST", "/api/v1/deploys", `{"app":"web","ref":"$(reboot)"}`, 400, `invalid: invalid ref`},
		{"ErrLocked", "POST", "/api/v1/deploys", `{"app":"web","env":"production","ref":"` + sha1 + `"}`, 409,
			"locked: production is locked by carol ("},
		{"ErrTooLarge", "POST", "/api/v1/deploys", big, 413, "too_large: request body over 65536 bytes"},
		{"ErrNoDeploy", "GET", "/api/v1/deploys/99", "", 404, "not_found: no deploy #99"},
		{"ErrBadID", "GET", "/api/v1/deploys/x", "", 400, `invalid: bad deploy id "x"`},
		{"ErrBadState", "GET", "/api/v1/deploys?state=done", "", 400, `invalid: unknown state "done"`},
		{"ErrNoRoute", "GET", "/api/v2/x", "", 404, "not_found: no route GET /api/v2/x"},
		{"ErrBadTTL", "POST", "/api/v1/locks", `{"env":"staging","ttl":"soon"}`, 400, `invalid: bad ttl "soon"`},
		{"ErrBadFreezeTTL", "POST", "/api/v1/freezes", `{"env":"staging","ttl":"-1h"}`, 400, `invalid: bad ttl "-1h" (use e.g. 30m, 2h)`},
		{"ErrTTLNotAString", "POST", "/api/v1/locks", `{"env":"staging","ttl":30}`, 400, "invalid: malformed JSON body: json: cannot unmarshal number"},
		{"ErrMethod", "PUT", "/api/v1/deploys/%22x/cancel", "", 405, `invalid: PUT is not allowed on /api/v1/deploys/"x/cancel`},
		{"ErrNotLocked", "DELETE", "/api/v1/locks/staging", "", 404, "not_found: staging is not locked"},
		{"ErrContinueUnknown", "POST", "/api/v1/deploys/77/continue", "", 404, "not_found: no deploy #77"},
		{"ErrPanic", "GET", "/boom", "", 500, "internal: internal error"},
		{"ErrOpUnknown", "POST", "/api/v1/operations", `{"app":"web","op":"explode"}`, 400, `invalid: unknown operation "explode"`},
		{"ErrScaleNoInstances", "POST", "/api/v1/operations", `{"app":"web","op":"scale"}`, 400, "invalid: scale needs instances"},
		{"ErrOpUnsupported", "POST", "/api/v1/operations", `{"app":"web","op":"restart"}`, 501, "unsupported: the shell runner of web in staging cannot restart"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.do(t, c.method, c.path, c.body)
			if c.name == "ErrLocked" && !strings.HasSuffix(errCode(t, r), "s ago): incident 7") {
				t.Fatalf("lock message lacks age and reason: %s", errCode(t, r))
			}
			if r.status != c.status || !strings.HasPrefix(errCode(t, r), c.want) {
				t.Fatalf("got %d %s\nwant %d %s", r.status, errCode(t, r), c.status, c.want)
			}
		})
	}
	// The server is still up after the panic.
	if r := s.do(t, "GET", "/healthz", ""); r.status != 200 {
		t.Fatalf("healthz %d", r.status)
	}
	if ds, _ := s.q.Svc.Deploys(context.Background(), queue.DeployFilter{}); len(ds) != 0 {
		t.Fatalf("%d deploys stored from bad requests", len(ds))
	}
}

func TestTokens(t *testing.T) {
	s := newServer(t, "true", map[string]string{"tok-alice-0123456789": "alice"})
	if r := s.do(t, "GET", "/api/v1/environments", ""); r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d", r.status)
	}
	if r := s.do(t, "GET", "/api/v1/environments", "", "Authorization", "Bearer wrong"); r.status != 401 {
		t.Fatalf("bad token: %d", r.status)
	}
	r := s.do(t, "POST", "/api/v1/locks", `{"env":"staging","reason":"r"}`, "Authorization", "Bearer tok-alice-0123456789", "X-Deployq-User", "mallory")
	if r.status != 201 || !strings.Contains(r.body, `"owner": "alice"`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func TestLocksAPI(t *testing.T) {
	s := newServer(t, "true", nil)
	r := s.do(t, "POST", "/api/v1/locks", `{"env":"staging","app":"web","reason":"db","ttl":"2h"}`, "X-Deployq-User", "alice")
	if r.status != 201 || !strings.Contains(r.body, `"expires_at"`) || !strings.Contains(r.body, `"app": "web"`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := s.do(t, "POST", "/api/v1/locks", `{"env":"staging","app":"web"}`, "X-Deployq-User", "bob"); r.status != 409 {
		t.Fatalf("second lock: %d %s", r.status, r.body)
	}
	if r := s.do(t, "POST", "/api/v1/locks", `{"env":"staging","app":"web","steal":true}`, "X-Deployq-User", "bob"); r.status != 201 {
		t.Fatalf("steal: %d %s", r.status, r.body)
	}
	if r := s.do(t, "GET", "/api/v1/locks", ""); !strings.Contains(r.body, `"owner": "bob"`) {
		t.Fatalf("locks %s", r.body)
	}
	if r := s.do(t, "DELETE", "/api/v1/locks/staging?app=web", ""); r.status != 200 {
		t.Fatalf("unlock: %d %s", r.status, r.body)
	}
	if r := s.do(t, "GET", "/api/v1/audit", ""); !strings.Contains(r.body, `"action": "steal"`) {
		t.Fatalf("audit %s", r.body)
	}
}

func TestChatEndpoint(t *testing.T) {
	s := newServer(t, "true", nil)
	r := s.do(t, "POST", "/api/v1/chat", `{"text":"deploy web@`+sha1[:40]+` to production"}`, "X-Deployq-User", "alice")
	var out struct {
		Reply  string
		Deploy *api.Deploy
		Error  *struct{ Code string }
	}
	json.Unmarshal([]byte(r.body), &out)
	if r.status != 200 || out.Deploy == nil || out.Deploy.Source != "chat" || !strings.HasPrefix(out.Reply, "#1 queued: web 1111111 to production by alice") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	r = s.do(t, "POST", "/api/v1/chat", `{"text":"deploy web@$(id)"}`)
	json.Unmarshal([]byte(r.body), &out)
	if out.Error == nil || out.Error.Code != "invalid" || !strings.Contains(out.Reply, "usage: deploy") {
		t.Fatalf("%s", r.body)
	}
}

// Follow a running deploy as text and as SSE; resume SSE after a line.
func TestFollowAndSSE(t *testing.T) {
	s := newServer(t, `for i in 1 2 3 4 5; do echo "step $i"; sleep 0.05; done`, nil)
	s.do(t, "POST", "/api/v1/deploys", `{"app":"web","ref":"`+sha1+`"}`)

	r := s.do(t, "GET", "/api/v1/deploys/1/log?follow=1", "")
	if strings.Count(r.body, " stdout step ") != 5 || !strings.Contains(r.body, "succeeded") {
		t.Fatalf("followed:\n%s", r.body)
	}

	req, _ := http.NewRequest("GET", s.url+"/api/v1/deploys/1/log", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", "2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("content type %s", resp.Header.Get("Content-Type"))
	}
	var ids []string
	var end string
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			ids = append(ids, strings.TrimPrefix(line, "id: "))
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "end":
			end = strings.TrimPrefix(line, "data: ")
		}
	}
	if len(ids) == 0 || ids[0] != "3" {
		t.Fatalf("resumed at %v", ids)
	}
	if !strings.Contains(end, `"state":"succeeded"`) {
		t.Fatalf("end event %q", end)
	}
	if want := fmt.Sprint(len(ids) + 2); ids[len(ids)-1] != want {
		t.Fatalf("last id %s, want %s", ids[len(ids)-1], want)
	}
}

// The hand-written SSE JSON decodes to the same line.
func TestEventJSON(t *testing.T) {
	texts := []string{"plain", `quote " and \ back`, "tab\tnl\r<b>&</b>", "\x00\x1f", "héllo ✓", "bad \xff utf8", "\u2028"}
	for _, text := range texts {
		b := api.AppendEventForTest(nil, queue.LogLine{Seq: 7, Time: time.Unix(1, 5).UTC(), Stream: "stderr", Host: "web-1", Text: text})
		data := strings.TrimSuffix(strings.SplitN(string(b), "data: ", 2)[1], "\n\n")
		var l api.LogLine
		if err := json.Unmarshal([]byte(data), &l); err != nil {
			t.Fatalf("%q: %v in %s", text, err, data)
		}
		want := strings.ToValidUTF8(text, "\ufffd")
		if l.Text != want || l.Seq != 7 || l.Host != "web-1" || l.Stream != "stderr" || !l.Time.Equal(time.Unix(1, 5)) {
			t.Fatalf("%q came back as %+v", text, l)
		}
	}
}
