package github_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployq/deployq/github"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// callbacks is GitHub's API for the runs deployq gates: it records the
// answers and cancels, each with when it came.
type callbacks struct {
	mu         sync.Mutex
	heard      []heardAnswer
	dispatches []map[string]any // the workflow_dispatch requests
	got        chan struct{}
}

var dispatchPath = regexp.MustCompile(`^/api/v3/repos/octo-org/octo-repo/actions/workflows/deploy.yml/dispatches$`)

type heardAnswer struct {
	run   int64
	state string // approved, rejected, or cancel
	env   string
	at    time.Time
}

var runPath = regexp.MustCompile(`^/api/v3/repos/octo-org/octo-repo/actions/runs/([0-9]+)/(deployment_protection_rule|cancel)$`)

func (c *callbacks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == "POST" && dispatchPath.MatchString(r.URL.Path) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		c.mu.Lock()
		c.dispatches = append(c.dispatches, body)
		c.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	m := runPath.FindStringSubmatch(r.URL.Path)
	if m == nil || r.Method != "POST" {
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		return
	}
	run, _ := strconv.ParseInt(m[1], 10, 64)
	a := heardAnswer{run: run, state: "cancel", at: time.Now()}
	if m[2] == "deployment_protection_rule" {
		var body map[string]string
		json.NewDecoder(r.Body).Decode(&body)
		a.state, a.env = body["state"], body["environment_name"]
	}
	c.mu.Lock()
	c.heard = append(c.heard, a)
	c.mu.Unlock()
	select {
	case c.got <- struct{}{}:
	default:
	}
	w.WriteHeader(map[bool]int{true: http.StatusNoContent, false: http.StatusAccepted}[m[2] == "deployment_protection_rule"])
}

// answer waits for run's answer (approved, rejected, cancel).
func (c *callbacks) answer(t testing.TB, run int64, state string) heardAnswer {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		c.mu.Lock()
		i := slices.IndexFunc(c.heard, func(a heardAnswer) bool { return a.run == run && a.state == state })
		var a heardAnswer
		if i >= 0 {
			a = c.heard[i]
		}
		c.mu.Unlock()
		if i >= 0 {
			return a
		}
		select {
		case <-c.got:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("run %d never heard %s", run, state)
		}
	}
}

// gate is a receiver and a queue whose web/production is deployed by
// Actions jobs, GitHub's API the callbacks.
type gate struct {
	*env
	api     *callbacks
	apiURL  string
	actions *github.Actions
}

func startGate(t testing.TB) *gate { return startGateWith(t, &github.ActionsSettings{}) }

func startGateWith(t testing.TB, settings *github.ActionsSettings) *gate {
	return startGateEnv(t, &queue.Environment{Name: "production", Runner: github.ActionsRunner, Settings: settings})
}

func startGateEnv(t testing.TB, production *queue.Environment) *gate {
	api := &callbacks{got: make(chan struct{}, 1)}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	client, err := github.NewClient("gh-token", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	actions := github.NewActions(client, log)
	apps := []*queue.App{{Name: "web", Repo: "octo-org/octo-repo", DefaultRef: "master", DefaultEnv: "production",
		Environments: []*queue.Environment{production}}}
	ctx, cancel := context.WithCancel(context.Background())
	q := queuetest.Start(t, apps, func(o *queue.Options) {
		o.Notifiers = []queue.Notifier{actions}
		o.Runners = map[string]queue.Runner{github.ActionsRunner: actions}
	}, func(svc *queue.Service) { actions.Start(ctx, svc) })
	t.Cleanup(func() { q.Svc.Stop(); cancel(); actions.Wait() })
	rec := httptest.NewServer(github.NewReceiver(secret, q.Svc, nil, client, log).WithActions(actions))
	t.Cleanup(rec.Close)
	return &gate{env: &env{t: t, url: rec.URL, svc: q.Svc}, api: api, apiURL: srv.URL + "/api/v3/", actions: actions}
}

// request is run's protection rule request, its deployment numbered
// after the run, its callback on the gate's API.
func (g *gate) request(t testing.TB, run int64) []byte {
	raw := fixture(t, "actions/deployment_protection_rule.requested.json")
	raw = derive(t, raw, fmt.Sprintf("%srepos/octo-org/octo-repo/actions/runs/%d/deployment_protection_rule", g.apiURL, run), "deployment_callback_url")
	return derive(t, raw, run+1000, "deployment", "id")
}

// The request is checked, not trusted: its callback must be deployq's own
// API, for the repository the event names; go-github's example (action
// "a") is ignored, and requested, refused for its callback "b".
func TestActionsRequestChecked(t *testing.T) {
	g := startGate(t)
	good := g.request(t, 7)
	for name, c := range map[string]struct {
		body []byte
		want string
	}{
		"go-github's example": {derive(t, fixture(t, "actions/deployment_protection_rule.go-github.json"), "requested", "action"), "is not on"},
		"another host":        {derive(t, good, "https://evil.example.com/api/v3/repos/octo-org/octo-repo/actions/runs/7/deployment_protection_rule", "deployment_callback_url"), "is not on"},
		"another repository":  {derive(t, good, g.apiURL+"repos/octo-org/other/actions/runs/7/deployment_protection_rule", "deployment_callback_url"), "not octo-org/octo-repo"},
		"not a run's":         {derive(t, good, g.apiURL+"repos/octo-org/octo-repo/actions/runs/7/../../../../user", "deployment_callback_url"), "not a workflow run's"},
		"a query":             {derive(t, good, g.apiURL+"repos/octo-org/octo-repo/actions/runs/7/deployment_protection_rule?x=1", "deployment_callback_url"), "is not on"},
		"no sha":              {derive(t, good, "main", "deployment", "sha"), "names no sha"},
	} {
		t.Run(name, func(t *testing.T) {
			code, out := g.post("deployment_protection_rule", "d-"+strings.NewReplacer(" ", "-", "'", "").Replace(name), c.body, sign(c.body, secret))
			if code != 400 || !strings.Contains(out, c.want) {
				t.Fatalf("%d %s, want 400 saying %q", code, out, c.want)
			}
		})
	}
	ex := fixture(t, "actions/deployment_protection_rule.go-github.json") // as it is: action "a"
	if code, out := g.post("deployment_protection_rule", "d-example", ex, sign(ex, secret)); code != 202 || !strings.Contains(out, "deployment protection rule a") {
		t.Fatalf("go-github's example: %d %s", code, out)
	}
	if n := len(g.deploys()); n != 0 {
		t.Fatalf("%d deploys from refused requests", n)
	}
	// The same request, twice under two delivery ids: one deploy.
	for _, delivery := range []string{"d-1", "d-2"} {
		if code, out := g.post("deployment_protection_rule", delivery, good, sign(good, secret)); code/100 != 2 {
			t.Fatalf("%s: %d %s", delivery, code, out)
		}
	}
	if ds := g.deploys(); len(ds) != 1 || ds[0].Source != queue.SourceActions || ds[0].User != "github:Codertocat" {
		t.Fatalf("deploys %+v", ds)
	}
	g.api.answer(t, 7, "approved")
}

// A job asks for an environment deployq does not gate: it is rejected at
// once, saying so.
func TestActionsUnknownEnvironmentRejected(t *testing.T) {
	g := startGate(t)
	body := derive(t, g.request(t, 9), "staging", "environment")
	code, out := g.post("deployment_protection_rule", "d-9", body, sign(body, secret))
	if code != 202 || !strings.Contains(out, `no environment of octo-org/octo-repo that GitHub calls \"staging\"`) {
		t.Fatalf("%d %s", code, out)
	}
	g.api.answer(t, 9, "rejected")
}

// The real deliveries about a job decode: a job waiting for its
// environment names the job that deploys, and its end, or its
// deployment's status, ends the deploy.
func TestActionsJobEnds(t *testing.T) {
	g := startGate(t)
	const run = 4747967848 // the run of the real workflow_job payload
	req := derive(t, g.request(t, run), 875096709, "deployment", "id")
	if code, out := g.post("deployment_protection_rule", "d-req", req, sign(req, secret)); code != 202 {
		t.Fatalf("%d %s", code, out)
	}
	waiting := fixture(t, "actions/workflow_job.queued.with-deployment.json")
	waiting = derive(t, waiting, "octo-org/octo-repo", "repository", "full_name")
	if code, out := g.post("workflow_job", "d-job", waiting, sign(waiting, secret)); code != 202 {
		t.Fatalf("%d %s", code, out)
	}
	g.api.answer(t, run, "approved")
	// Its deployment's status: the real payload is for another
	// deployment, so it ends nothing.
	status := fixture(t, "actions/deployment_status.success.json")
	if code, out := g.post("deployment_status", "d-status", status, sign(status, secret)); code != 202 || !strings.Contains(out, "no deploy waits") {
		t.Fatalf("%d %s", code, out)
	}
	done := derive(t, fixture(t, "actions/workflow_job.completed.success.json"), 12877621891, "workflow_job", "id")
	done = derive(t, done, "octo-org/octo-repo", "repository", "full_name")
	if code, out := g.post("workflow_job", "d-done", done, sign(done, secret)); code != 202 || !strings.Contains(out, `"deploys":[1]`) {
		t.Fatalf("%d %s", code, out)
	}
	d, err := g.svc.FollowLog(t.Context(), 1, 0, func([]queue.LogLine) error { return nil })
	if err != nil || d.State != queue.StateSucceeded {
		t.Fatalf("#1: %v %+v", err, d)
	}
}

// A deployment Actions made for a gated environment is not run as a
// deployment made on GitHub: its job asks through the protection rule.
func TestActionsDeploymentNotRunTwice(t *testing.T) {
	g := startGate(t)
	dep := derive(t, fixture(t, "deployment.created.json"), "octo-org/octo-repo", "repository", "full_name")
	dep = derive(t, dep, "production", "deployment", "environment")
	if code, out := g.post("deployment", "d-dep", dep, sign(dep, secret)); code != 202 || len(g.deploys()) != 0 {
		t.Fatalf("%d %s, %d deploys", code, out, len(g.deploys()))
	}
}

// A deploy asked in deployq to an environment whose workflow is given
// starts that workflow for its sha; the request its job makes is the
// deploy's, let go at once, and the job's end ends it. Without a
// workflow, such a deploy is refused, saying why.
func TestActionsDeployAskedInDeployqStartsTheWorkflow(t *testing.T) {
	const sha = "3484a3fb816e0859fd6e1cea078d76385ff50625"
	plain := startGate(t)
	_, err := plain.svc.Submit(t.Context(), queue.Request{App: "web", Env: "production", Ref: "master", SHA: sha, User: "alice", Source: queue.SourceChat})
	if queue.ErrorCode(err) != queue.EUnsupported || !strings.Contains(err.Error(), "production is deployed by GitHub Actions jobs") {
		t.Fatalf("without a workflow: %v", err)
	}

	g := startGateWith(t, &github.ActionsSettings{Workflow: "deploy.yml", Ref: "main"})
	d, err := g.svc.Submit(t.Context(), queue.Request{App: "web", Env: "production", Ref: "master", SHA: sha, User: "alice", Source: queue.SourceChat})
	if err != nil {
		t.Fatal(err)
	}
	queuetest.Eventually(t, "the workflow started", func() bool {
		g.api.mu.Lock()
		defer g.api.mu.Unlock()
		return len(g.api.dispatches) == 1
	})
	g.api.mu.Lock()
	got := g.api.dispatches[0]
	g.api.mu.Unlock()
	if inputs, _ := got["inputs"].(map[string]any); got["ref"] != "main" || inputs["sha"] != sha || inputs["deployq_id"] != strconv.FormatInt(d.ID, 10) {
		t.Fatalf("dispatched %v", got)
	}
	req := g.request(t, 77)
	if code, out := g.post("deployment_protection_rule", "d-77", req, sign(req, secret)); code != 202 || !strings.Contains(out, fmt.Sprintf(`"deploys":[%d]`, d.ID)) {
		t.Fatalf("its job's request: %d %s", code, out)
	}
	g.api.answer(t, 77, "approved")
	done := derive(t, fixture(t, "actions/workflow_run.completed.json"), 77, "workflow_run", "id")
	if code, out := g.post("workflow_run", "d-done", done, sign(done, secret)); code != 202 || !strings.Contains(out, fmt.Sprintf(`"deploys":[%d]`, d.ID)) {
		t.Fatalf("its run's end: %d %s", code, out)
	}
	end, err := g.svc.FollowLog(t.Context(), d.ID, 0, func([]queue.LogLine) error { return nil })
	if err != nil || end.State != queue.StateSucceeded {
		t.Fatalf("%v %+v", err, end)
	}
	if n := len(g.deploys()); n != 1 {
		t.Fatalf("%d deploys, want the one that started the workflow", n)
	}
}

// A job that never says it ended is ended by the environment's timeout,
// and its run canceled on GitHub.
func TestActionsJobTimesOut(t *testing.T) {
	g := startGateEnv(t, &queue.Environment{Name: "production", Runner: github.ActionsRunner, Settings: &github.ActionsSettings{},
		Timeout: 300 * time.Millisecond})
	req := g.request(t, 31)
	if code, out := g.post("deployment_protection_rule", "d-31", req, sign(req, secret)); code != 202 {
		t.Fatalf("%d %s", code, out)
	}
	g.api.answer(t, 31, "approved")
	d, err := g.svc.FollowLog(t.Context(), 1, 0, func([]queue.LogLine) error { return nil })
	if err != nil || d.State != queue.StateFailed || !strings.Contains(d.Error, "timed out") {
		t.Fatalf("%v %+v", err, d)
	}
	g.api.answer(t, 31, "cancel")
}
