// Package promtest runs a real Prometheus for tests: a private server per
// test on 127.0.0.1, its data in a temporary directory, scraping the
// targets the test gives every second. It stops when the test ends, and
// dies with the test binary if that is killed. Without Prometheus the
// test skips, unless RequiredEnv is set: then it fails.
package promtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RequiredEnv, when set (make test sets it), turns a missing Prometheus
// into a failure instead of a skip.
const RequiredEnv = "DEPLOYQ_PROM_REQUIRED"

// Server is a running Prometheus.
type Server struct {
	URL string // http://127.0.0.1:PORT
}

// Start runs a Prometheus that scrapes each target (host:port, its
// /metrics) every second, and returns once it answers.
func Start(t testing.TB, targets ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv(RequiredEnv) != "" {
			t.Fatalf("promtest: %v (install Debian's prometheus package: make test-deps)", err)
		}
		t.Skipf("promtest: %v", err)
	}
	dir := t.TempDir()
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = strconv.Quote(tg)
	}
	conf := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 900ms}
scrape_configs:
  - job_name: app
    static_configs: [{targets: [%s]}]
`, strings.Join(quoted, ", "))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
			"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
		log, err := os.Create(filepath.Join(dir, "prometheus.log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		done, err := spawn(cmd)
		log.Close()
		if err != nil {
			t.Fatalf("promtest: starting %s: %v", bin, err)
		}
		s := &Server{URL: "http://" + addr}
		stop := func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		}
		if err := s.waitReady(done); err != nil {
			stop()
			out, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
			if attempt < 3 && strings.Contains(string(out), "address already in use") {
				continue // the port was taken between the look and the start
			}
			t.Fatalf("promtest: %v\n%s", err, out)
		}
		t.Cleanup(stop)
		return s
	}
}

// spawn starts cmd from a goroutine locked to its OS thread, which stays
// until the process ends: Pdeathsig follows the thread that started it.
func spawn(cmd *exec.Cmd) (chan struct{}, error) {
	started, done := make(chan error, 1), make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread goes with the goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		close(done)
	}()
	return done, <-started
}

func (s *Server) waitReady(done chan struct{}) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("prometheus exited")
		default:
		}
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("prometheus not ready within a minute")
}

// Value is the one value of an instant query now, ok false when it has
// none.
func (s *Server) Value(ctx context.Context, query string) (float64, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/query?query="+url.QueryEscape(query), nil)
	if err != nil {
		return 0, false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	var ans struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		return 0, false, err
	}
	if ans.Status != "success" {
		return 0, false, fmt.Errorf("query %q: %s", query, ans.Error)
	}
	if len(ans.Data.Result) != 1 {
		return 0, false, nil
	}
	str, _ := ans.Data.Result[0].Value[1].(string)
	f, err := strconv.ParseFloat(str, 64)
	return f, err == nil, err
}

// WaitFor waits until query has a value that ok accepts, failing t after
// a minute.
func (s *Server) WaitFor(t testing.TB, query string, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		v, has, err := s.Value(context.Background(), query)
		if err == nil && has && ok(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("promtest: %s: no acceptable value within a minute (last: %v, %v, %v)", query, v, has, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
