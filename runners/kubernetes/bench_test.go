package kubernetes_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/runnertest"
	"github.com/deployq/deployq/queue"
	kuberunner "github.com/deployq/deployq/runners/kubernetes"
)

// BenchmarkRolloutRSS is what a deploy to Kubernetes costs in memory:
// the resident memory of its deployq-kubernetes while a Deployment of 2
// replicas rolls out to a new image (rss-MB, the most seen; anon-MB, of
// which its own, not pages of its executable; peak-MB, the kernel's
// high-water mark), and how long the deploy takes. When it has
// ended there is no process left: nothing stays.
//
//	go test -run '^$' -bench RolloutRSS -benchtime 5x ./runners/kubernetes
func BenchmarkRolloutRSS(b *testing.B) {
	ctx, ns := needCluster(b)
	createDeployment(b, ctx, ns, "web", good, 2, 600)
	st := settings(ns, kuberunner.Target{Workload: "deployment/web", Containers: map[string]string{"web": "registry.example.com/web:{sha}"}})
	r := newRunner(b)
	var rss, anon, peak float64
	for i := range b.N {
		job := queue.Job{DeployID: int64(i + 1), App: "web", Env: "production", Ref: "main",
			SHA: fmt.Sprintf("%040d", i+1), User: "alice", Settings: st}
		out := runnertest.NewRecorder()
		done := make(chan struct{})
		var res queue.Result
		var err error
		go func() { defer close(done); res, err = r.Run(ctx, job, out) }()
	sample:
		for {
			for _, p := range childProcs(kuberunner.Executable) {
				m := memory(p.pid)
				rss, anon, peak = max(rss, m["VmRSS"]), max(anon, m["RssAnon"]), max(peak, m["VmHWM"])
			}
			select {
			case <-done:
				break sample
			case <-time.After(10 * time.Millisecond):
			}
		}
		if err != nil || !res.OK {
			b.Fatalf("deploy %d: %+v, %v\n%s", i+1, res, err, out.Text())
		}
		if left := children(kuberunner.Executable); len(left) > 0 {
			b.Fatalf("left after the deploy: %v", left)
		}
	}
	b.ReportMetric(rss, "rss-MB")
	b.ReportMetric(anon, "anon-MB")
	b.ReportMetric(peak, "peak-MB")
}

// BenchmarkLive is what `where` costs with a Kubernetes environment: a
// deployq-kubernetes started, connected, asked the images of one
// Deployment, gone.
//
//	go test -run '^$' -bench Live -benchtime 20x ./runners/kubernetes
func BenchmarkLive(b *testing.B) {
	ctx, ns := needCluster(b)
	createDeployment(b, ctx, ns, "web", good, 1, 600)
	st := settings(ns, kuberunner.Target{Workload: "deployment/web", Containers: map[string]string{"web": "registry.example.com/web:{sha}"}})
	r := newRunner(b)
	env := &queue.Environment{Name: "production", Runner: "kubernetes", Settings: st}
	b.ResetTimer()
	for range b.N {
		if live, err := r.Live(ctx, &queue.App{Name: "web"}, env); err != nil || live != "deployment/web: web="+good {
			b.Fatalf("live %q, %v", live, err)
		}
	}
}

// memory reads a process's VmRSS, RssAnon and VmHWM, in MB (none once
// it is gone).
func memory(pid int) map[string]float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil
	}
	m := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(v, " kB") {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(v, " kB")), 64)
			m[k] = kb / 1024
		}
	}
	return m
}
