package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/promtest"
	"github.com/deployq/deployq/internal/queuetest"
)

// app is a local service whose health depends on the version deployed:
// the deploy command writes the sha to current; what each version
// answers is up to the test.
type app struct {
	current string // the file the deploy command writes
	mu      sync.Mutex
	tries   map[string]int
	answer  func(sha string, try int, r *http.Request) int
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := os.ReadFile(a.current)
	sha := strings.TrimSpace(string(b))
	a.mu.Lock()
	a.tries[sha]++
	n := a.tries[sha]
	a.mu.Unlock()
	w.WriteHeader(a.answer(sha, n, r))
	fmt.Fprintln(w, "ok")
}

// The deploy of a version that turns unhealthy during its verification
// fails, saying which check failed and what it saw; its sha is marked
// bad; the environment is rolled back to the version before it, by a
// deploy of its own; a push of that sha is then refused and says why. A
// server killed while a deploy verifies resumes its window when it
// starts again.
func TestVerifyThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	const (
		good    = "1111111111111111111111111111111111111111"
		pushed  = "fd489864e7642b48eaad6e3f155c10e46810ec72" // the sha of the push payload: it breaks
		later   = "2222222222222222222222222222222222222222" // its verification is cut by a kill
		secret  = "verify-webhook-secret"
		current = "current"
	)
	held, release := make(chan struct{}), make(chan struct{})
	var holdOnce sync.Once
	svc := &app{current: filepath.Join(dir, current), tries: map[string]int{}, answer: func(sha string, try int, r *http.Request) int {
		switch {
		case sha == pushed && try >= 2:
			return http.StatusServiceUnavailable
		case sha == later && try == 2:
			holdOnce.Do(func() { close(held) })
			select { // the server is killed meanwhile
			case <-release:
			case <-r.Context().Done():
			}
		}
		return http.StatusOK
	}}
	health := httptest.NewServer(svc)
	defer health.Close()
	cfg := `github:
  webhook_secret: ` + secret + `
apps:
  - name: sample
    repo: binkkatal/sample_app
    default_ref: master
    environments:
      - name: staging
        runner: shell
        shell: {command: "printf %s \"$DEPLOY_SHA\" > ` + svc.current + `"}
        auto_deploy: {on: [push]}
        verify:
          for: 3s
          every: 1s
          checks:
            - name: health
              http: {url: "` + health.URL + `/health"}
              timeout: 30s
`
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	s := startServer(t, dir, nil)
	alice := []string{"USER=alice"}
	mustContain(t, "the first deploy", s.cliOK(t, alice, "deploy", "-f", "sample@"+good),
		"the runner succeeded; verifying for 3s, every 1s: health (http)", "verify 3/3: health ok: 200", "succeeded")

	out, code := s.cli(t, alice, "", "deploy", "-f", "sample@"+pushed)
	if code == 0 {
		t.Fatalf("a deploy that failed its verification exits 0:\n%s", out)
	}
	mustContain(t, "the broken deploy", out, "verify 1/3: health ok: 200", "verify 2/3: health FAILED: GET "+health.URL+"/health: 503 (want 200)",
		"verification failed: check health: GET "+health.URL+"/health: 503 (want 200); fd48986 is marked bad for sample; staging rolls back")
	var back struct {
		ID     int64  `json:"id"`
		State  string `json:"state"`
		SHA    string `json:"sha"`
		Source string `json:"source"`
	}
	queuetest.Eventually(t, "the rollback to succeed", func() bool {
		resp, err := http.Get(s.url + "/api/v1/deploys/3")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&back) == nil && back.State == "succeeded"
	})
	if back.SHA != good || back.Source != "rollback" {
		t.Fatalf("the rollback: %+v", back)
	}
	mustContain(t, "the rollback's log", s.cliOK(t, nil, "logs", "3"), "rollback of #2 (fd48986), whose verification failed: check health")
	if b, _ := os.ReadFile(svc.current); string(b) != good {
		t.Fatalf("after the rollback %q runs, want %s", b, good)
	}
	mustContain(t, "history", s.cliOK(t, nil, "history", "sample"), "fd48986 (bad)", "#3")

	if code, out := s.push(t, secret, "verify-1"); code != 202 || !strings.Contains(out, "fd48986 is marked bad for sample by deployq") ||
		!strings.Contains(out, "failed its verification") {
		t.Fatalf("the push of the bad sha: %d %s", code, out)
	}

	mustContain(t, "a deploy", s.cliOK(t, alice, "deploy", "sample@"+later), "#5")
	queuetest.Receive(t, "the second round of checks of #5", held) // it waits for an answer
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.done
	close(release)
	s = startServer(t, dir, nil)
	log := s.cliOK(t, nil, "logs", "-f", "5")
	mustContain(t, "the resumed deploy", log, "verify 1/3: health ok", "deployq started again: the verification of #5 goes on", "verify 3/3: health ok", "succeeded")
	if n := strings.Count(log, "the runner succeeded"); n != 1 {
		t.Fatalf("the runner ran %d times:\n%s", n, log)
	}
}

// A Prometheus check against a real Prometheus that scrapes the app: the
// app's error rate turns up once the version is deployed, and the check
// fails the deploy with the query's value; on_failure: alert rolls
// nothing back.
func TestVerifyPrometheusThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	const bad = "3333333333333333333333333333333333333333"
	current := filepath.Join(dir, "current")
	start := time.Now()
	var errs atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, _ := os.ReadFile(current); string(b) == bad {
			errs.Add(200) // a fifth of the requests fail, from the deploy on
		}
		n := int64(time.Since(start)/time.Millisecond) + errs.Load()
		fmt.Fprintf(w, "# TYPE app_requests_total counter\napp_requests_total{code=\"200\"} %d\napp_requests_total{code=\"500\"} %d\n", n, errs.Load())
	}))
	defer target.Close()
	prom := promtest.Start(t, strings.TrimPrefix(target.URL, "http://"))
	query := `sum(rate(app_requests_total{code="500"}[5s])) / sum(rate(app_requests_total[5s]))`
	prom.WaitFor(t, query, func(v float64) bool { return v == 0 })
	cfg := `prometheus: {url: "` + prom.URL + `"}
apps:
  - name: web
    environments:
      - name: production
        runner: shell
        shell: {command: "printf %s \"$DEPLOY_SHA\" > ` + current + `"}
        verify:
          for: 5m
          every: 1s
          on_failure: alert
          checks:
            - name: errors
              prometheus: {query: '` + query + `', want: "< 0.01"}
`
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	s := startServer(t, dir, nil)
	out, code := s.cli(t, []string{"USER=alice"}, "", "deploy", "-f", "web@"+bad)
	if code == 0 {
		t.Fatalf("exit 0:\n%s", out)
	}
	mustContain(t, "the deploy", out, "errors FAILED: ", "< 0.01 is false", "verification failed: check errors: ", "3333333 is marked bad for web")
	if strings.Contains(out, "rolls back") {
		t.Fatalf("on_failure: alert rolled back:\n%s", out)
	}
	mustContain(t, "history", s.cliOK(t, nil, "history", "web"), "#1", "failed", "3333333 (bad)")
}
