package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"
)

// The channels the servers' config names: deploy cards go to their
// environment's channel, everything else to the announcements one.
const (
	slackChannel  = "CDEPLOYS"
	slackBotToken = "xoxb-chaos"
	slackSecret   = "chaos-signing-secret"
	slackBotID    = "B0CHAOS01"
)

// envSlackChannel is the channel of an environment's deploy cards:
// CPROD for prod.
func envSlackChannel(env string) string { return "C" + strings.ToUpper(env) }

// slackMessage is a chat.postMessage or chat.update the fake Slack heard,
// as the form slack-go posts, and the server that sent it: its channel, its ts (the one given to a
// post, the one updated), the thread it went to, its text and blocks.
type slackMessage struct {
	method   string // chat.postMessage or chat.update
	from     string // the server that sent it
	channel  string
	ts       string
	threadTS string
	text     string
	blocks   string // JSON, as posted
	at       time.Time
}

// fakeSlack is Slack's Web API, enough of it for deployq's adapter in
// http mode. It records every message posted or updated, and counts the
// calls it does not know.
type fakeSlack struct {
	srv *httptest.Server

	mu       sync.Mutex
	messages []slackMessage
	calls    map[string]int // by method
	unknown  map[string]int // methods answered unknown_method
	next     int            // the last ts handed out, its fraction
}

func newFakeSlack() *fakeSlack {
	f := &fakeSlack{calls: map[string]int{}, unknown: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

// url is the api_url to give the server named server: it ends with
// /api/, and starts with the server's name, by which its calls are told
// from the others'.
func (f *fakeSlack) url(server string) string { return f.srv.URL + "/" + server + "/api/" }

func (f *fakeSlack) close() { f.srv.Close() }

// The answers have the shapes of Slack's Web API, as its documentation
// and its OpenAPI examples give them (the copies in
// bot/slack/testdata/fixtures: auth.test, chat.postMessage, chat.update,
// chat.postEphemeral), with the values of this run.
func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	from, method, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/api/")
	r.ParseForm()
	f.mu.Lock()
	at := time.Now()
	f.calls[method]++
	var answer map[string]any
	switch method {
	case "auth.test":
		answer = map[string]any{"ok": true, "team": "Chaos Workspace", "team_id": "T0CHAOS01", "url": "https://chaos.slack.com/",
			"user": "deployq", "user_id": "U0CHAOS01", "bot_id": slackBotID}
	case "chat.postMessage":
		f.next++
		ts := fmt.Sprintf("1700000000.%06d", f.next)
		m := f.record(method, from, r, ts, at)
		answer = map[string]any{"ok": true, "channel": m.channel, "ts": ts,
			"message": map[string]any{"bot_id": slackBotID, "subtype": "bot_message", "text": m.text, "ts": ts, "type": "message", "username": "deployq"}}
	case "chat.update":
		m := f.record(method, from, r, r.Form.Get("ts"), at)
		answer = map[string]any{"ok": true, "channel": m.channel, "ts": m.ts, "text": m.text,
			"message": map[string]any{"text": m.text, "user": "U0CHAOS01"}}
	case "chat.postEphemeral":
		f.next++
		answer = map[string]any{"ok": true, "message_ts": fmt.Sprintf("1700000000.%06d", f.next)}
	case "users.info", "users.lookupByEmail":
		id := r.Form.Get("user")
		if id == "" {
			id = "U0CHAOS02"
		}
		answer = map[string]any{"ok": true, "user": map[string]any{"id": id, "team_id": "T0CHAOS01", "name": "chaos", "real_name": "Chaos Monkey",
			"deleted": false, "is_bot": false, "profile": map[string]any{"real_name": "Chaos Monkey", "display_name": "chaos", "email": "chaos@example.com"}}}
	case "usergroups.list":
		answer = map[string]any{"ok": true, "usergroups": []any{}}
	default:
		f.unknown[method]++
		answer = map[string]any{"ok": false, "error": "unknown_method"}
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(answer)
}

// record keeps a posted or updated message; f.mu is held.
func (f *fakeSlack) record(method, from string, r *http.Request, ts string, at time.Time) slackMessage {
	m := slackMessage{method: method, from: from, channel: r.Form.Get("channel"), ts: ts, threadTS: r.Form.Get("thread_ts"),
		text: r.Form.Get("text"), blocks: r.Form.Get("blocks"), at: at}
	f.messages = append(f.messages, m)
	return m
}

// heard is a copy of the messages, in the order they came.
func (f *fakeSlack) heard() []slackMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]slackMessage(nil), f.messages...)
}

// unknownCalls says the methods answered unknown_method: "files.upload
// 2", or "".
func (f *fakeSlack) unknownCalls() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return stateSummary(f.unknown)
}

// heardCalls counts the calls it answered, by method.
func (f *fakeSlack) heardCalls() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.calls)
}

// keep writes what it heard to path, a message a line: "TIME SERVER
// METHOD CHANNEL TS thread=TS TEXT".
func (f *fakeSlack) keep(path string) error {
	var b strings.Builder
	for _, m := range f.heard() {
		fmt.Fprintf(&b, "%s %s %s %s %s thread=%s %q\n", clock(m.at), m.from, m.method, m.channel, m.ts, m.threadTS, m.text)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
