package api

import (
	"context"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics is the Prometheus side of deployq: a queue.Notifier that counts
// state changes, and collectors that read queue depth at scrape time.
type Metrics struct {
	Registry *prometheus.Registry
	states   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	mu       sync.Mutex
	seen     map[int64]queue.State
}

// NewMetrics returns metrics with the Go and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry(), seen: map[int64]queue.State{}}
	m.states = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "deployq_deploys_total",
		Help: "Deploys that entered each state."}, []string{"state"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "deployq_deploy_duration_seconds",
		Help: "Run time of finished deploys.", Buckets: prometheus.ExponentialBuckets(1, 2, 14)}, []string{"state"})
	m.Registry.MustRegister(m.states, m.duration, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Build adds deployq_build_info{version,commit,go_version}, always 1:
// which deployq answers.
func (m *Metrics) Build(version, commit, goVersion string) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "deployq_build_info",
		Help:        "Which deployq this is: its version, commit and Go version (always 1).",
		ConstLabels: prometheus.Labels{"version": version, "commit": commit, "go_version": goVersion}})
	g.Set(1)
	m.Registry.MustRegister(g)
}

// Watch adds gauges read from the service at scrape time.
func (m *Metrics) Watch(svc *queue.Service) {
	m.Registry.MustRegister(&laneCollector{svc: svc})
}

// DeployChanged implements queue.Notifier.
func (m *Metrics) DeployChanged(d *queue.Deploy) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen[d.ID] == d.State {
		return
	}
	m.states.WithLabelValues(string(d.State)).Inc()
	if d.State.Terminal() {
		delete(m.seen, d.ID)
		if !d.StartedAt.IsZero() {
			m.duration.WithLabelValues(string(d.State)).Observe(d.FinishedAt.Sub(d.StartedAt).Seconds())
		}
		return
	}
	m.seen[d.ID] = d.State
}

// LockChanged implements queue.Notifier.
func (m *Metrics) LockChanged(*queue.Lock, bool) {}

var (
	queuedDesc  = prometheus.NewDesc("deployq_queue_depth", "Deploys queued per app and environment.", []string{"app", "env"}, nil)
	waitingDesc = prometheus.NewDesc("deployq_waiting", "Deploys waiting per app and environment.", []string{"app", "env"}, nil)
	runningDesc = prometheus.NewDesc("deployq_running", "1 when a deploy runs in the app and environment.", []string{"app", "env"}, nil)
	lockedDesc  = prometheus.NewDesc("deployq_locked", "1 when the app in the environment is locked.", []string{"app", "env"}, nil)
)

// laneCollector reads the gauges of every app+env from the service when
// Prometheus scrapes.
type laneCollector struct{ svc *queue.Service }

func (c *laneCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queuedDesc
	ch <- waitingDesc
	ch <- runningDesc
	ch <- lockedDesc
}

func (c *laneCollector) Collect(ch chan<- prometheus.Metric) {
	// A scrape is where this call path starts: the collector interface
	// carries no context.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sts, err := c.svc.Environments(ctx)
	if err != nil {
		return
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, st := range sts {
		ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(st.Queued), st.App, st.Env)
		ch <- prometheus.MustNewConstMetric(waitingDesc, prometheus.GaugeValue, float64(st.Waiting), st.App, st.Env)
		ch <- prometheus.MustNewConstMetric(runningDesc, prometheus.GaugeValue, b(st.Running != nil), st.App, st.Env)
		ch <- prometheus.MustNewConstMetric(lockedDesc, prometheus.GaugeValue, b(st.Lock != nil), st.App, st.Env)
	}
}

// WatchParts adds deployq_part_up{part}: 1 while each outside part named
// works, 0 while degraded says it does not.
func (m *Metrics) WatchParts(names []string, degraded func() map[string]string) {
	m.Registry.MustRegister(&partCollector{names: names, degraded: degraded})
}

var partUp = prometheus.NewDesc("deployq_part_up", "Whether an outside part (slack, github) works now.", []string{"part"}, nil)

type partCollector struct {
	names    []string
	degraded func() map[string]string
}

func (c *partCollector) Describe(ch chan<- *prometheus.Desc) { ch <- partUp }

func (c *partCollector) Collect(ch chan<- prometheus.Metric) {
	down := c.degraded()
	for _, n := range c.names {
		up := 1.0
		if _, ok := down[n]; ok {
			up = 0
		}
		ch <- prometheus.MustNewConstMetric(partUp, prometheus.GaugeValue, up, n)
	}
}
