package slack_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/bot/slack"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
	"github.com/gorilla/websocket"
)

// BenchmarkSocketAck: command-to-ack latency over Socket Mode against the
// local server: 300 mentions sent back to back, each timed from the write
// of its envelope to the arrival of its ack.
func BenchmarkSocketAck(b *testing.B) {
	var p50s, p99s []float64
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
		var lat []float64
		queuetest.Eventually(b, "every ack", func() bool {
			lat = lat[:0]
			for id, at := range sent {
				if acks := e.fake.acksOf(id); len(acks) > 0 {
					lat = append(lat, float64(acks[0].Sub(at))/float64(time.Millisecond))
				}
			}
			return len(lat) == count
		})
		slices.Sort(lat)
		p50s, p99s = append(p50s, lat[len(lat)/2]), append(p99s, lat[len(lat)*99/100])
	}
	slices.Sort(p50s)
	slices.Sort(p99s)
	b.ReportMetric(p50s[len(p50s)/2], "p50-ms")
	b.ReportMetric(p99s[len(p99s)/2], "p99-ms")
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
