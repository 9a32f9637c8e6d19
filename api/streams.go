package api

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/deployq/deployq/queue"
	"github.com/prometheus/client_golang/prometheus"
)

// streams counts the open log followers, by deploy, and event streams,
// against Limits.Followers and Limits.FollowersPerDeploy. /metrics shows
// them: deployq_http_streams{kind="log"|"events"}.
type streams struct {
	max, perDeploy int

	mu     sync.Mutex
	total  int
	events int
	logs   map[int64]int
}

func newStreams(l Limits) *streams {
	return &streams{max: l.Followers, perDeploy: l.FollowersPerDeploy, logs: map[int64]int{}}
}

// tooManyError refuses a follower over a deploy's cap: 429 too_many.
type tooManyError struct{ msg string }

func (e *tooManyError) Error() string { return e.msg }

// open counts a new stream, of deploy's log or (deploy 0) of events, and
// returns what ends it; EUnavailable over the cap of all, a
// *tooManyError over the deploy's.
func (st *streams) open(deploy int64) (func(), error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.total >= st.max {
		return nil, queue.Errorf(queue.EUnavailable, "%d log followers and event streams are open, the most this server takes; try again later", st.total)
	}
	if deploy != 0 && st.logs[deploy] >= st.perDeploy {
		return nil, &tooManyError{fmt.Sprintf("%d followers of deploy #%d are open, the most this server takes for one deploy", st.logs[deploy], deploy)}
	}
	st.total++
	if deploy == 0 {
		st.events++
	} else {
		st.logs[deploy]++
	}
	var once sync.Once
	return func() { once.Do(func() { st.close(deploy) }) }, nil
}

// refuseStream answers a stream over a cap, and closes the connection: a
// client that asked for a stream it cannot have is not kept waiting for
// its next request.
func (s *Server) refuseStream(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Connection", "close")
	s.writeError(w, r, err)
}

func (st *streams) close(deploy int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.total--
	if deploy == 0 {
		st.events--
		return
	}
	if st.logs[deploy]--; st.logs[deploy] == 0 {
		delete(st.logs, deploy)
	}
}

var streamsDesc = prometheus.NewDesc("deployq_http_streams", "Log followers (log) and event streams (events) open now.", []string{"kind"}, nil)

// Describe implements prometheus.Collector.
func (st *streams) Describe(ch chan<- *prometheus.Desc) { ch <- streamsDesc }

// Collect implements prometheus.Collector.
func (st *streams) Collect(ch chan<- prometheus.Metric) {
	st.mu.Lock()
	logs, events := st.total-st.events, st.events
	st.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(streamsDesc, prometheus.GaugeValue, float64(logs), "log")
	ch <- prometheus.MustNewConstMetric(streamsDesc, prometheus.GaugeValue, float64(events), "events")
}
