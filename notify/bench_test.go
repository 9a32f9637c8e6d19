package notify_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/notify"
	"github.com/deployq/deployq/queue"
)

// BenchmarkSinkLag: how long after a deploy's end its webhook gets the
// event, over 200 deploys on real SQLite and the real shell runner;
// reports p50 and p99.
func BenchmarkSinkLag(b *testing.B) {
	var rounds queuetest.Rounds
	for b.Loop() {
		var mu sync.Mutex
		at := map[int64]time.Time{}
		rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			now := time.Now()
			body, _ := io.ReadAll(r.Body)
			var e notify.Event
			if json.Unmarshal(body, &e) == nil && e.Event == notify.EventSucceeded {
				mu.Lock()
				at[e.Deploy.ID] = now
				mu.Unlock()
			}
		}))
		n := notify.New([]notify.Sink{{Name: "lag", Kind: notify.KindWebhook, URL: rc.URL, Events: []string{"succeeded"}}}, "http://x", nil)
		const lanes, deploys = 20, 200
		var apps []*queue.App
		for i := range lanes {
			apps = append(apps, &queue.App{Name: fmt.Sprintf("app%d", i), DefaultRef: "main", DefaultEnv: "prod",
				Environments: []*queue.Environment{queuetest.Shell("prod", "true")}})
		}
		e := queuetest.Start(b, apps, func(o *queue.Options) { o.Notifiers = append(o.Notifiers, n) },
			func(svc *queue.Service) { n.Start(b.Context(), svc) })
		var ids []int64
		for i := range deploys {
			d, err := e.Svc.Submit(b.Context(), queue.Request{App: fmt.Sprintf("app%d", i%lanes), Env: "prod", Ref: sha(i), SHA: fmt.Sprintf("%040x", i+1), User: "alice"})
			if err != nil {
				b.Fatal(err)
			}
			ids = append(ids, d.ID)
		}
		queuetest.Eventually(b, "every end announced", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(at) == deploys
		})
		var lags []float64
		for _, id := range ids {
			d, err := e.Store.Deploy(b.Context(), id)
			if err != nil {
				b.Fatal(err)
			}
			lags = append(lags, float64(at[id].Sub(d.FinishedAt))/float64(time.Millisecond))
		}
		rounds.Add(lags)
		rc.Close()
	}
	rounds.Report(b, "")
}
