package github_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// post sends one signed delivery and returns how long the answer took.
func post(b *testing.B, client *http.Client, url, event, delivery string, body []byte, want int) time.Duration {
	req, _ := http.NewRequest("POST", url, strings.NewReader(string(body)))
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", sign(body, secret))
	at := time.Now()
	resp, err := client.Do(req)
	took := time.Since(at)
	if err != nil || resp.StatusCode != want {
		b.Fatalf("%v %v", err, resp)
	}
	resp.Body.Close()
	return took
}

// BenchmarkWebhookIngestion: signed status events, each with its own
// delivery id (checked, deduped and recorded), from 8 concurrent senders;
// reports events per second.
func BenchmarkWebhookIngestion(b *testing.B) {
	e := start(b)
	body := fixture(b, "status.success.json")
	const events = 4000
	var rates []float64
	for n := range b.N {
		at := time.Now()
		var wg sync.WaitGroup
		ch := make(chan int)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{}
				for i := range ch {
					post(b, client, e.url, "status", fmt.Sprintf("bench-%d-%d", n, i), body, 202)
				}
			}()
		}
		for i := range events {
			ch <- i
		}
		close(ch)
		wg.Wait()
		rates = append(rates, events/time.Since(at).Seconds())
	}
	slices.Sort(rates)
	b.ReportMetric(rates[len(rates)/2], "events/s")
}

// BenchmarkPushToQueued: a push event to a tracked branch, answered once
// its auto-deploy is stored and queued; p50 and p99 of 500 pushes from 8
// senders at once (the machine saturated).
func BenchmarkPushToQueued(b *testing.B) { benchPush(b, 8) }

// BenchmarkPushToQueuedOneSender: the same, one push at a time.
func BenchmarkPushToQueuedOneSender(b *testing.B) { benchPush(b, 1) }

func benchPush(b *testing.B, senders int) {
	e := start(b)
	push := fixture(b, "push.default-branch.json")
	var rounds queuetest.Rounds
	for n := range b.N {
		var mu sync.Mutex
		var lat []float64
		var wg sync.WaitGroup
		ch := make(chan int)
		for range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{}
				for i := range ch {
					body := derive(b, push, fmt.Sprintf("%040x", n*1000+i+1), "after")
					took := post(b, client, e.url, "push", fmt.Sprintf("push-%d-%d", n, i), body, 202)
					mu.Lock()
					lat = append(lat, float64(took)/float64(time.Millisecond))
					mu.Unlock()
				}
			}()
		}
		for i := range 500 {
			ch <- i
		}
		close(ch)
		wg.Wait()
		rounds.Add(lat)
	}
	rounds.Report(b, "")
}

// BenchmarkActionsGate: an Actions job asks for a free lane; reports the
// p50 and p99 time from the request's delivery to the approval reaching
// GitHub (100 jobs one after another, each ended by its workflow_run
// before the next asks).
func BenchmarkActionsGate(b *testing.B) {
	const jobs = 100
	var rounds queuetest.Rounds
	for range b.N {
		g := startGate(b)
		client := &http.Client{}
		var lat []float64
		for i := range jobs {
			run := int64(1000 + i)
			req := g.request(b, run)
			at := time.Now()
			post(b, client, g.url, "deployment_protection_rule", fmt.Sprintf("req-%d", run), req, http.StatusAccepted)
			lat = append(lat, float64(g.api.answer(b, run, "approved").at.Sub(at))/float64(time.Millisecond))
			done := derive(b, fixture(b, "actions/workflow_run.completed.json"), run, "workflow_run", "id")
			post(b, client, g.url, "workflow_run", fmt.Sprintf("done-%d", run), done, http.StatusAccepted)
			if d, err := g.svc.FollowLog(b.Context(), int64(i+1), 0, func([]queue.LogLine) error { return nil }); err != nil || d.State != queue.StateSucceeded {
				b.Fatalf("#%d: %v %+v", i+1, err, d)
			}
		}
		rounds.Add(lat)
	}
	rounds.Report(b, "")
}
