package verify_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/promtest"
	"github.com/deployq/deployq/internal/runnertest"
	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners/verify"
)

var job = queue.Job{DeployID: 7, App: "web", Env: "prod", SHA: strings.Repeat("a", 40), Ref: "main", User: "alice",
	Params: map[string]string{"note": "$(touch pwned)"}}

func TestHTTP(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
		fmt.Fprint(w, `{"status":"ok"}`)
	}))
	defer srv.Close()
	p := verify.New(t.TempDir())
	probe := func(c queue.VerifyCheck) queue.Evidence {
		c.Kind = queue.CheckHTTP
		return p.Probe(t.Context(), job, c, runnertest.NewRecorder())
	}
	if ev := probe(queue.VerifyCheck{URL: srv.URL, Status: 200, Body: `"status":"ok"`}); !ev.OK {
		t.Fatalf("a healthy answer failed: %s", ev.Said)
	}
	if ev := probe(queue.VerifyCheck{URL: srv.URL, Status: 200, Body: `degraded`}); ev.OK || !strings.Contains(ev.Said, "does not match") {
		t.Fatalf("a body that does not match: %+v", ev)
	}
	status.Store(503)
	if ev := probe(queue.VerifyCheck{URL: srv.URL, Status: 200}); ev.OK || !strings.Contains(ev.Said, "503 (want 200)") {
		t.Fatalf("a 503: %+v", ev)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/health"
	l.Close()
	if ev := probe(queue.VerifyCheck{URL: closed, Status: 200}); ev.OK || !strings.Contains(ev.Said, "refused") {
		t.Fatalf("a closed port: %+v", ev)
	}
}

func TestCommand(t *testing.T) {
	ws := t.TempDir()
	p := verify.New(ws)
	rec := runnertest.NewRecorder()
	c := queue.VerifyCheck{Kind: queue.CheckCommand, Command: `echo "$DEPLOY_APP $DEPLOY_SHA" {param.note} $(basename "$PWD")`}
	ev := p.Probe(t.Context(), job, c, rec)
	if !ev.OK {
		t.Fatalf("the command failed: %s\n%s", ev.Said, rec.Text())
	}
	if want := "web " + job.SHA + " $(touch pwned) web"; !strings.Contains(rec.Text(), want) {
		t.Fatalf("output %q, want %q", rec.Text(), want)
	}
	if _, err := os.Stat(filepath.Join(ws, "web", "pwned")); err == nil {
		t.Fatal("a parameter's $() ran")
	}
	ev = p.Probe(t.Context(), job, queue.VerifyCheck{Kind: queue.CheckCommand, Command: "echo broken >&2; exit 3"}, rec)
	if ev.OK || !strings.Contains(ev.Said, "exit status 3") || !strings.Contains(rec.Text(), "broken") {
		t.Fatalf("a failing command: %+v\n%s", ev, rec.Text())
	}
	ev = p.Probe(t.Context(), job, queue.VerifyCheck{Kind: queue.CheckCommand, Command: "echo {nope}"}, rec)
	if ev.OK || !strings.Contains(ev.Said, "unknown placeholder") {
		t.Fatalf("an unknown placeholder: %+v", ev)
	}
}

// TestPrometheus queries a real Prometheus that scrapes a local target
// whose errors the test turns on.
func TestPrometheus(t *testing.T) {
	var errs atomic.Int64
	start := time.Now()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int64(time.Since(start) / time.Millisecond) // 1000 requests a second
		fmt.Fprintf(w, "# TYPE app_requests_total counter\napp_requests_total{code=\"200\"} %d\napp_requests_total{code=\"500\"} %d\n", n, errs.Load())
	}))
	defer target.Close()
	prom := promtest.Start(t, strings.TrimPrefix(target.URL, "http://"))
	query := `sum(rate(app_requests_total{code="500"}[5s])) / sum(rate(app_requests_total[5s]))`
	prom.WaitFor(t, query, func(v float64) bool { return v == 0 })
	p := verify.New(t.TempDir())
	c := queue.VerifyCheck{Kind: queue.CheckPrometheus, Server: prom.URL, Query: query, Op: "<", Value: 0.01}
	if ev := p.Probe(t.Context(), job, c, runnertest.NewRecorder()); !ev.OK || ev.Said != "0 < 0.01 is true" {
		t.Fatalf("no errors: %+v", ev)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() { // 100 errors a second on top of the 1000 requests
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				errs.Add(1)
			}
		}
	}()
	prom.WaitFor(t, query, func(v float64) bool { return v > 0.01 })
	if ev := p.Probe(t.Context(), job, c, runnertest.NewRecorder()); ev.OK || !strings.Contains(ev.Said, "< 0.01 is false") {
		t.Fatalf("errors turned up: %+v", ev)
	}
	c.Query = `app_requests_total`
	if ev := p.Probe(t.Context(), job, c, runnertest.NewRecorder()); ev.OK || !strings.Contains(ev.Said, "2 series") {
		t.Fatalf("two series: %+v", ev)
	}
	c.Query = `absent_metric_name`
	if ev := p.Probe(t.Context(), job, c, runnertest.NewRecorder()); ev.OK || !strings.Contains(ev.Said, "no value") {
		t.Fatalf("no value: %+v", ev)
	}
	c.Query = `sum(`
	if ev := p.Probe(t.Context(), job, c, runnertest.NewRecorder()); ev.OK || !strings.Contains(ev.Said, "the query failed") {
		t.Fatalf("a bad query: %+v", ev)
	}
}
