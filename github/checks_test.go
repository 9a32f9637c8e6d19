package github_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployq/deployq/github"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// fakeGitHub is a real HTTP server on 127.0.0.1 answering the two check
// endpoints with the fixture bodies, or a variant set by the test.
type fakeGitHub struct {
	auth     string // the Authorization header it wants (default "Bearer gh-token")
	mu       sync.Mutex
	combined []byte
	runs     []byte
	down     bool
}

func (f *fakeGitHub) set(combined, runs []byte, down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.combined, f.runs, f.down = combined, runs, down
}

func (f *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case f.down:
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte(`{"message":"Server Error"}`))
	case r.Header.Get("Authorization") != f.wantAuth():
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"message":"Bad credentials"}`))
	case strings.HasPrefix(r.URL.Path, "/api/v3/repos/Codertocat/Hello-World/commits/") && strings.HasSuffix(r.URL.Path, "/status"):
		w.Write(f.combined)
	case strings.HasPrefix(r.URL.Path, "/api/v3/repos/Codertocat/Hello-World/commits/") && strings.HasSuffix(r.URL.Path, "/check-runs"):
		w.Write(f.runs)
	default:
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"message":"Not Found"}`))
	}
}

func (f *fakeGitHub) wantAuth() string {
	if f.auth != "" {
		return f.auth
	}
	return "Bearer gh-token"
}

// The sha of the status webhook fixture, so its delivery names our deploy.
const statusSHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"

type checksEnv struct {
	*env
	fake *fakeGitHub
}

func startChecks(t *testing.T, required []string, timeout time.Duration) *checksEnv {
	fake := &fakeGitHub{}
	fake.set(fixture(t, "api/get-combined-status-for-ref.200.json"), fixture(t, "api/list-check-runs-for-ref.200.json"), false)
	api := httptest.NewServer(fake)
	t.Cleanup(api.Close)
	client, err := github.NewClient("gh-token", api.URL)
	if err != nil {
		t.Fatal(err)
	}
	prod := queuetest.Shell("production", "echo deployed")
	prod.RequiredContexts, prod.ChecksTimeout = required, timeout
	apps := []*queue.App{{Name: "hello", Repo: "Codertocat/Hello-World", DefaultRef: "master", DefaultEnv: "production",
		Environments: []*queue.Environment{prod}}}
	q := queuetest.Start(t, apps, func(o *queue.Options) { o.Checker, o.RecheckEvery = client, time.Hour })
	srv := httptest.NewServer(github.NewReceiver(secret, q.Svc, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(srv.Close)
	return &checksEnv{env: &env{t: t, url: srv.URL, svc: q.Svc}, fake: fake}
}

func (e *checksEnv) submit(force bool) (*queue.Deploy, error) {
	return e.svc.Submit(context.Background(), queue.Request{App: "hello", Ref: statusSHA, User: "alice", Force: force})
}

func (e *checksEnv) statusEvent(delivery string) {
	body := fixture(e.t.(*testing.T), "status.success.json")
	if code, _ := e.send("status", delivery, body, sign(body, secret)); code != 202 {
		e.t.Fatalf("status event: %d", code)
	}
}

func (e *checksEnv) end(id int64) (*queue.Deploy, string) {
	var log strings.Builder
	d, err := e.svc.FollowLog(context.Background(), id, 0, func(ls []queue.LogLine) error {
		for _, l := range ls {
			log.WriteString(l.Text + "\n")
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return d, log.String()
}

var both = []string{"continuous-integration/jenkins", "mighty_readme"}

func pendingStatus(t *testing.T) []byte {
	return derive(t, fixture(t, "api/get-combined-status-for-ref.200.json"), "pending", "statuses", "0", "state")
}

func TestChecksGreen(t *testing.T) {
	e := startChecks(t, both, 0)
	d, err := e.submit(false)
	if err != nil || d.State != queue.StateQueued {
		t.Fatalf("%v %+v", err, d)
	}
	if got, _ := e.end(d.ID); got.State != queue.StateSucceeded {
		t.Fatalf("%s", got.State)
	}
}

func TestChecksPendingThenGreen(t *testing.T) {
	e := startChecks(t, both, 0)
	e.fake.set(pendingStatus(t), fixture(t, "api/list-check-runs-for-ref.200.json"), false)
	d, err := e.submit(false)
	if err != nil || d.State != queue.StateWaiting {
		t.Fatalf("%v %+v", err, d)
	}
	e.statusEvent("st-1") // still pending: nothing moves, nothing fails
	if got, _ := e.svc.Deploy(context.Background(), d.ID); got.State != queue.StateWaiting {
		t.Fatalf("after a pending status: %s", got.State)
	}
	e.fake.set(fixture(t, "api/get-combined-status-for-ref.200.json"), fixture(t, "api/list-check-runs-for-ref.200.json"), false)
	e.statusEvent("st-2")
	got, log := e.end(d.ID)
	if got.State != queue.StateSucceeded || !strings.Contains(log, "waiting for checks: continuous-integration/jenkins (https://ci.example.com/1000/output)") ||
		!strings.Contains(log, "checks passed") {
		t.Fatalf("%s\n%s", got.State, log)
	}
}

func TestChecksPendingThenRed(t *testing.T) {
	e := startChecks(t, both, 0)
	// a check run still in progress
	runs := derive(t, fixture(t, "api/list-check-runs-for-ref.200.json"), "in_progress", "check_runs", "0", "status")
	e.fake.set(fixture(t, "api/get-combined-status-for-ref.200.json"), runs, false)
	d, _ := e.submit(false)
	if d.State != queue.StateWaiting {
		t.Fatalf("%+v", d)
	}
	failed := derive(t, fixture(t, "api/get-combined-status-for-ref.200.json"), "failure", "statuses", "0", "state")
	e.fake.set(failed, fixture(t, "api/list-check-runs-for-ref.200.json"), false)
	e.statusEvent("st-3")
	got, _ := e.end(d.ID)
	if got.State != queue.StateFailed || got.Error != "checks failed: continuous-integration/jenkins (https://ci.example.com/1000/output)" {
		t.Fatalf("%s %q", got.State, got.Error)
	}
}

func TestChecksFailedAtRequest(t *testing.T) {
	e := startChecks(t, both, 0)
	runs := derive(t, fixture(t, "api/list-check-runs-for-ref.200.json"), "failure", "check_runs", "0", "conclusion")
	e.fake.set(fixture(t, "api/get-combined-status-for-ref.200.json"), runs, false)
	_, err := e.submit(false)
	if queue.ErrorCode(err) != queue.EChecksFailed ||
		err.Error() != "checks failed for 6113728: mighty_readme (https://github.com/github/hello-world/runs/4) (deploy! skips checks)" {
		t.Fatalf("%v", err)
	}
	d, err := e.submit(true) // deploy!
	if err != nil || d.State != queue.StateQueued {
		t.Fatalf("forced: %v %+v", err, d)
	}
}

func TestChecksGitHubDownNeverFails(t *testing.T) {
	e := startChecks(t, both, 0)
	e.fake.set(nil, nil, true)
	d, err := e.submit(false)
	if err != nil || d.State != queue.StateWaiting {
		t.Fatalf("%v %+v", err, d)
	}
	e.statusEvent("st-4") // GitHub still down: it waits on
	if got, _ := e.svc.Deploy(context.Background(), d.ID); got.State != queue.StateWaiting {
		t.Fatalf("%s", got.State)
	}
	e.fake.set(fixture(t, "api/get-combined-status-for-ref.200.json"), fixture(t, "api/list-check-runs-for-ref.200.json"), false)
	e.statusEvent("st-5")
	if got, _ := e.end(d.ID); got.State != queue.StateSucceeded {
		t.Fatalf("%s", got.State)
	}
}

func TestChecksAllAndTimeout(t *testing.T) {
	e := startChecks(t, []string{"all"}, 300*time.Millisecond)
	empty, _ := json.Marshal(map[string]any{"state": "pending", "statuses": []any{}})
	noRuns, _ := json.Marshal(map[string]any{"total_count": 0, "check_runs": []any{}})
	e.fake.set(empty, noRuns, false)
	d, err := e.submit(false)
	if err != nil || d.State != queue.StateWaiting {
		t.Fatalf("%v %+v", err, d)
	}
	got, _ := e.end(d.ID)
	if got.State != queue.StateFailed || got.Error != "checks still pending after 300ms: any check" {
		t.Fatalf("%s %q", got.State, got.Error)
	}
}
