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

// deploymentsAPI is a fake GitHub answering the Deployments endpoints with
// the fixture bodies, recording what it was sent; it can be down.
type deploymentsAPI struct {
	t        testing.TB
	mu       sync.Mutex
	down     int // answers still to refuse with 502
	created  []map[string]any
	statuses []map[string]any // with "deployment" added
	got      chan struct{}
}

func (f *deploymentsAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if f.down > 0 {
		f.down--
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte(`{"message":"Server Error"}`))
		return
	}
	var body map[string]any
	json.NewDecoder(r.Body).Decode(&body)
	path := strings.TrimPrefix(r.URL.Path, "/api/v3/repos/Codertocat/Hello-World/deployments")
	switch {
	case r.Method == "POST" && path == "":
		f.created = append(f.created, body)
		w.WriteHeader(http.StatusCreated)
		w.Write(fixture(f.t, "api/create-deployment.201.json"))
	case r.Method == "POST" && strings.HasSuffix(path, "/statuses"):
		body["deployment"] = strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/statuses")
		f.statuses = append(f.statuses, body)
		w.WriteHeader(http.StatusCreated)
		w.Write(fixture(f.t, "api/create-deployment-status.201.json"))
	default:
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"message":"Not Found"}`))
		return
	}
	select {
	case f.got <- struct{}{}:
	default:
	}
}

func (f *deploymentsAPI) states(deployment string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, s := range f.statuses {
		if s["deployment"] == deployment {
			out = append(out, s["state"].(string))
		}
	}
	return out
}

func (f *deploymentsAPI) waitStates(t *testing.T, deployment string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for strings.Join(f.states(deployment), " ") != strings.Join(want, " ") {
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s statuses %v, want %v", deployment, f.states(deployment), want)
		}
		select {
		case <-f.got:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func startReporting(t *testing.T, command string) (*queue.Service, *deploymentsAPI) {
	api := &deploymentsAPI{t: t, got: make(chan struct{}, 1)}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	client, _ := github.NewClient("gh-token", srv.URL)
	rep := github.NewReporter(client, "http://deployq.test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	rep.MinBackoff = 20 * time.Millisecond
	env := queuetest.Shell("production", command)
	env.URL = "https://hello.example.com"
	apps := []*queue.App{{Name: "hello", Repo: "Codertocat/Hello-World", DefaultRef: "master", DefaultEnv: "production",
		Environments: []*queue.Environment{env}}}
	ctx, cancel := context.WithCancel(context.Background())
	q := queuetest.Start(t, apps, func(o *queue.Options) { o.Notifiers = []queue.Notifier{rep} },
		func(svc *queue.Service) { rep.Start(ctx, svc) })
	t.Cleanup(func() { q.Svc.Stop(); cancel(); rep.Wait() }) // before the store closes
	return q.Svc, api
}

func TestEveryDeployIsReported(t *testing.T) {
	svc, api := startReporting(t, "echo ok")
	d, err := svc.Submit(context.Background(), queue.Request{App: "hello", Ref: statusSHA, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	// the fixture's deployment id is 1
	api.waitStates(t, "1", "queued", "in_progress", "success")
	api.mu.Lock()
	created := api.created[0]
	last := api.statuses[len(api.statuses)-1]
	api.mu.Unlock()
	if created["ref"] != statusSHA || created["environment"] != "production" || created["auto_merge"] != false ||
		len(created["required_contexts"].([]any)) != 0 || created["payload"].(map[string]any)[github.PayloadKey] != float64(d.ID) {
		t.Fatalf("deployment %v", created)
	}
	if last["log_url"] != "http://deployq.test/api/v1/deploys/1/log" || last["environment_url"] != "https://hello.example.com" {
		t.Fatalf("status %v", last)
	}
	if ref, _ := svc.Meta(context.Background(), d.ID, "github.deployment"); ref != "1" {
		t.Fatalf("deployment id not kept: %q", ref)
	}
}

// A deploy asked for by a GitHub deployment reports on that deployment.
func TestDeploymentFromGitHubIsReportedOn(t *testing.T) {
	svc, api := startReporting(t, "exit 2")
	_, err := svc.Submit(context.Background(), queue.Request{App: "hello", Ref: "master", SHA: statusSHA, User: "Codertocat",
		Source: queue.SourceGitHub, GitHubDeploymentID: 145988746})
	if err != nil {
		t.Fatal(err)
	}
	api.waitStates(t, "145988746", "queued", "in_progress", "failure")
	if len(api.created) != 0 {
		t.Fatalf("made a second deployment: %v", api.created)
	}
}

// GitHub is down during the whole deploy: the deploy is not held up, and
// once GitHub is back every status arrives, in order.
func TestOutageLosesNoStatus(t *testing.T) {
	svc, api := startReporting(t, "echo ok")
	api.mu.Lock()
	api.down = 6
	api.mu.Unlock()
	d, _ := svc.Submit(context.Background(), queue.Request{App: "hello", Ref: statusSHA, User: "alice"})
	got, err := svc.FollowLog(context.Background(), d.ID, 0, func([]queue.LogLine) error { return nil })
	if err != nil || got.State != queue.StateSucceeded {
		t.Fatalf("%v %+v", err, got)
	}
	api.waitStates(t, "1", "queued", "in_progress", "success")
	api.mu.Lock()
	defer api.mu.Unlock()
	if api.down != 0 || len(api.created) != 1 {
		t.Fatalf("down %d, created %d", api.down, len(api.created))
	}
}

// A server ends a deploy and dies before it sends the statuses: they were
// kept with the changes that owe them, and the next server sends them all,
// in order.
func TestStatusesOwedOutliveTheServer(t *testing.T) {
	api := &deploymentsAPI{t: t, got: make(chan struct{}, 1)}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	client, _ := github.NewClient("gh-token", srv.URL)
	apps := []*queue.App{{Name: "hello", Repo: "Codertocat/Hello-World", DefaultRef: "master", DefaultEnv: "production",
		Environments: []*queue.Environment{queuetest.Shell("production", "echo ok")}}}
	dir := t.TempDir()
	server := func(send bool) (*queuetest.Env, *github.Reporter) {
		rep := github.NewReporter(client, "http://deployq.test", slog.New(slog.NewTextHandler(io.Discard, nil)))
		ctx, cancel := context.WithCancel(context.Background())
		if !send {
			cancel() // it keeps what it owes, and dies before sending any
		}
		q := queuetest.StartIn(t, dir, apps, func(o *queue.Options) { o.Notifiers = []queue.Notifier{rep} },
			func(svc *queue.Service) { rep.Start(ctx, svc) })
		t.Cleanup(func() { cancel(); rep.Wait() })
		return q, rep
	}
	first, rep := server(false)
	d, err := first.Svc.Submit(context.Background(), queue.Request{App: "hello", Ref: statusSHA, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if got := first.Wait(t, d.ID); got.State != queue.StateSucceeded {
		t.Fatalf("%+v", got)
	}
	rep.Wait()
	first.Svc.Stop()
	if err := first.Store.Close(); err != nil {
		t.Fatal(err)
	}
	if len(api.states("1")) != 0 {
		t.Fatal("statuses sent by a reporter that was stopped")
	}
	server(true)
	api.waitStates(t, "1", "queued", "in_progress", "success")
}
