package slack_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/bot/slack"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
	"github.com/gorilla/websocket"
	slackgo "github.com/slack-go/slack"
)

// BenchmarkSocketAck: command-to-ack latency over Socket Mode against the
// local server: 300 mentions sent back to back, each timed from the write
// of its envelope to the arrival of its ack.
func BenchmarkSocketAck(b *testing.B) {
	var rounds queuetest.Rounds
	for n := range b.N {
		e := start(b, "socket", "true", nil)
		c := e.fake.conn()
		const count = 300
		sent := map[string]time.Time{}
		for i := range count {
			env := withValue(b, mention(b, "help"), fmt.Sprintf("Ev-b%d-%d", n, i), "payload", "event_id")
			id := fmt.Sprintf("env-b%d-%d", n, i)
			env = withValue(b, env, id, "envelope_id")
			sent[id] = time.Now()
			if err := c.WriteMessage(websocket.TextMessage, env); err != nil {
				b.Fatal(err)
			}
			time.Sleep(time.Millisecond)
		}
		lat := ackLatencies(b, e, sent)
		rounds.Add(lat)
	}
	rounds.Report(b, "")
}

// BenchmarkThreadUnderLongLog: a 10k-line log; reports how many thread
// posts it took, and how long after the deploy ended the last line
// reached Slack.
func BenchmarkThreadUnderLongLog(b *testing.B) {
	for range b.N {
		e := start(b, "socket", `seq 1 10000 | sed 's/^/log line /'`, func(a *slack.Adapter) { a.PostInterval = time.Second })
		c := e.fake.conn()
		send(b, e.fake, c, mention(b, "deploy web@"+sha))
		var d *queue.Deploy
		queuetest.Eventually(b, "the deploy", func() bool {
			ds := e.deploys(b)
			if len(ds) > 0 {
				d = ds[0]
			}
			return d != nil
		})
		d = e.waitDeploy(b, d.ID)
		var posts int
		queuetest.Eventually(b, "the last line in the thread", func() bool {
			posts = 0
			all := ""
			for _, p := range e.fake.callsOf("chat.postMessage") {
				if blocksOf(p) == "" && p.Form.Get("thread_ts") != "" {
					posts++
					all += p.Form.Get("text")
				}
			}
			return strings.Contains(all, "log line 10000\n")
		})
		tail := time.Since(d.FinishedAt)
		b.ReportMetric(float64(posts), "posts")
		b.ReportMetric(float64(10000)/float64(posts), "lines/post")
		b.ReportMetric(tail.Seconds(), "tail-s")
	}
}

// BenchmarkFormOpen: /deploy with no text to the deploy form opened over
// Socket Mode: 100 commands sent back to back, each timed from the write
// of its envelope to its ack, which goes once views.open answered.
func BenchmarkFormOpen(b *testing.B) {
	var rounds queuetest.Rounds
	for n := range b.N {
		e := start(b, "socket", "true", nil)
		c := e.fake.conn()
		const count = 100
		sent := map[string]time.Time{}
		for i := range count {
			id := fmt.Sprintf("env-form-%d-%d", n, i)
			raw := withValue(b, fixture(b, "socket-mode.slash_commands.json"), fmt.Sprintf("111.222.form%d.%d", n, i), "payload", "trigger_id")
			raw = withValue(b, raw, id, "envelope_id")
			sent[id] = time.Now()
			if err := c.WriteMessage(websocket.TextMessage, raw); err != nil {
				b.Fatal(err)
			}
			time.Sleep(time.Millisecond)
		}
		lat := ackLatencies(b, e, sent)
		if got := len(e.fake.callsOf("views.open")); got != count {
			b.Fatalf("%d forms opened, want %d", got, count)
		}
		rounds.Add(lat)
	}
	rounds.Report(b, "")
}

// BenchmarkHomeRender: the Home tab of 100 lanes (each with what runs
// there, a queue and every fourth locked) rendered to the JSON
// views.publish takes.
func BenchmarkHomeRender(b *testing.B) {
	now := time.Now()
	h := slack.Home{User: "alice", Dashboard: "https://deployq.example", Now: now}
	for i := range 100 {
		app, env := fmt.Sprintf("app%02d", i), []string{"staging", "production"}[i%2]
		cur := &queue.Deploy{ID: int64(i + 1), App: app, Env: env, Ref: "main", SHA: sha, State: queue.StateSucceeded, User: "bob",
			CreatedAt: now.Add(-time.Hour), StartedAt: now.Add(-time.Hour), FinishedAt: now.Add(-59 * time.Minute)}
		st := queue.EnvStatus{App: app, Env: env, Current: cur, Last: cur, Queued: i % 3}
		if i%4 == 0 {
			st.Lock = &queue.Lock{Env: env, App: app, Owner: "alice", Reason: "release", CreatedAt: now}
		}
		h.Lanes = append(h.Lanes, st)
	}
	var size int
	for b.Loop() {
		raw, err := json.Marshal(slackgo.HomeTabViewRequest{Type: slackgo.VTHomeTab, Blocks: slackgo.Blocks{BlockSet: slack.HomeBlocks(h)}})
		if err != nil {
			b.Fatal(err)
		}
		size = len(raw)
	}
	b.ReportMetric(float64(size), "bytes")
}

// ackLatencies waits for the ack of every envelope sent (id -> when it
// was written) and returns how long each took, in milliseconds.
func ackLatencies(b *testing.B, e *env, sent map[string]time.Time) []float64 {
	var lat []float64
	queuetest.Eventually(b, "every ack", func() bool {
		lat = lat[:0]
		for id, at := range sent {
			if acks := e.fake.acksOf(id); len(acks) > 0 {
				lat = append(lat, float64(acks[0].Sub(at))/float64(time.Millisecond))
			}
		}
		return len(lat) == len(sent)
	})
	return lat
}
