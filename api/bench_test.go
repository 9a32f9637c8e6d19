package api_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
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
