package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/api"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// BenchmarkLogThroughput: one runner (a real process printing lines as
// fast as it can) into the store, with one SSE follower over HTTP. Reports
// lines per second from the deploy's first line to the follower's last, and
// the follower's lag behind the runner (time a line reached the follower
// minus the time deployq stamped it). With the producer unthrottled the two
// cores of a small machine are saturated, so the lag here is the backlog of
// a CPU-bound box; BenchmarkFollowerLag measures lag at 100k lines/s.
func BenchmarkLogThroughput(b *testing.B) {
	benchLog(b, 300000, fmt.Sprintf("seq 1 %d | sed 's/^/log line number /'", 300000))
}

// BenchmarkFollowerLag: the same with the runner paced to about 100k lines
// a second (1000 lines every 10ms, by perl from perl-base).
func BenchmarkFollowerLag(b *testing.B) {
	benchLog(b, 200000, `perl -e '$|=0; for $b (1..200) {{ for $i (1..1000) {{ print "log line $b $i\n" }} $|=1; $|=0; select(undef,undef,undef,0.01) }}'`)
}

func benchLog(b *testing.B, lines int, command string) {
	var rates, p99s, maxes []float64
	for range b.N {
		s := newServer(b, command, nil)
		resp, err := http.Post(s.url+"/api/v1/deploys", "application/json", strings.NewReader(`{"app":"web","ref":"`+sha1+`"}`))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		// The deploy ends the stream; the deadline ends a deploy that never does.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/api/v1/deploys/1/log", nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var lags []float64
		var first, last time.Time
		n := 0
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok || !strings.Contains(data, `"seq"`) {
				continue
			}
			now := time.Now()
			// Read only what the benchmark needs: the client's JSON
			// decoding is not deployq's cost.
			if !strings.Contains(data, `"stream":"stdout"`) {
				continue
			}
			i := strings.Index(data, `"time":"`) + len(`"time":"`)
			stamp, err := time.Parse(time.RFC3339Nano, data[i:i+strings.IndexByte(data[i:], '"')])
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				first = stamp
			}
			n++
			last = now
			lags = append(lags, float64(now.Sub(stamp))/float64(time.Millisecond))
		}
		resp.Body.Close()
		cancel()
		if n != lines {
			b.Fatalf("follower saw %d lines, want %d (%v)", n, lines, sc.Err())
		}
		slices.Sort(lags)
		rates = append(rates, float64(n)/last.Sub(first).Seconds())
		p99s = append(p99s, lags[len(lags)*99/100])
		maxes = append(maxes, lags[len(lags)-1])
	}
	slices.Sort(rates)
	slices.Sort(p99s)
	slices.Sort(maxes)
	b.ReportMetric(rates[len(rates)/2], "lines/s")
	b.ReportMetric(p99s[len(p99s)/2], "lag-p99-ms")
	b.ReportMetric(maxes[len(maxes)/2], "lag-max-ms")
}

// BenchmarkEventBytes: what a dashboard receives per change at 1,000
// lanes (200 apps x 5 environments). Each iteration deploys one app to
// one environment and reads the event stream until that deploy ended;
// then a whole environment is locked and unlocked. Reports the bytes of
// the stream per deploy event, per lock event of a whole environment,
// and the size of GET /api/v1/environments (what a dashboard that
// refetches fetches after each event).
func BenchmarkEventBytes(b *testing.B) {
	events := api.NewEvents()
	var apps []*queue.App
	for i := range 200 {
		app := &queue.App{Name: fmt.Sprintf("app%03d", i), DefaultRef: "main"}
		for e := range 5 {
			app.Environments = append(app.Environments, queuetest.Shell(fmt.Sprintf("env%d", e), "true"))
		}
		app.DefaultEnv = "env0"
		apps = append(apps, app)
	}
	q := queuetest.Start(b, apps, func(o *queue.Options) { o.Notifiers = []queue.Notifier{events} })
	s := serve(b, q, api.Options{Events: events})
	resp, err := http.Get(s.url + "/api/v1/environments")
	if err != nil {
		b.Fatal(err)
	}
	envBytes, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	req, _ := http.NewRequestWithContext(b.Context(), "GET", s.url+"/api/v1/events", nil)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	stream := bufio.NewReaderSize(resp.Body, 1<<20)
	// until reads events until one is what it waits for, and returns
	// the bytes and the events read
	until := func(is func(ev string) bool) (bytes, n int) {
		for {
			ev, err := stream.ReadString('\n')
			for err == nil && !strings.HasSuffix(ev, "\n\n") {
				var more string
				more, err = stream.ReadString('\n')
				ev += more
			}
			if err != nil {
				b.Fatal(err)
			}
			if strings.HasPrefix(ev, ":") {
				continue
			}
			bytes, n = bytes+len(ev), n+1
			if is(ev) {
				return bytes, n
			}
		}
	}
	until(func(string) bool { return true }) // ready
	var deployBytes, deployEvents int
	b.ResetTimer()
	for i := range b.N {
		app := apps[i%len(apps)]
		r, err := http.Post(s.url+"/api/v1/deploys", "application/json", strings.NewReader(`{"app":"`+app.Name+`","ref":"`+sha1+`"}`))
		if err != nil {
			b.Fatal(err)
		}
		var d struct{ ID int64 }
		json.NewDecoder(r.Body).Decode(&d)
		r.Body.Close()
		n, k := until(func(ev string) bool {
			_, data, _ := strings.Cut(ev, "data: ")
			var e struct {
				Deploy struct {
					ID    int64
					State queue.State
				}
			}
			json.Unmarshal([]byte(data), &e)
			return e.Deploy.ID == d.ID && e.Deploy.State == queue.StateSucceeded
		})
		deployBytes, deployEvents = deployBytes+n, deployEvents+k
	}
	b.StopTimer()
	lock := func(method, path, body string) int {
		req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		r.Body.Close()
		n, _ := until(func(ev string) bool { return strings.Contains(ev, "event: lock") })
		return n
	}
	lockBytes := lock("POST", "/api/v1/locks", `{"env":"env1","reason":"bench"}`) + lock("DELETE", "/api/v1/locks/env1", "")
	b.ReportMetric(float64(deployBytes)/float64(deployEvents), "B/deploy-event")
	b.ReportMetric(float64(lockBytes)/2, "B/env-lock-event")
	b.ReportMetric(float64(envBytes), "B/environments")
}
