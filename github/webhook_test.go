package github_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/deployq/deployq/github"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

const secret = "webhook-secret-for-tests"

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// derive returns a copy of a JSON payload with the value at path set;
// a number in the path indexes a list.
func derive(t testing.TB, raw []byte, value any, path ...string) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	cur := v
	for i, p := range path {
		last := i == len(path)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[p] = value
			} else {
				cur = c[p]
			}
		case []any:
			n, err := strconv.Atoi(p)
			if err != nil || n >= len(c) {
				t.Fatalf("bad index %q", p)
			}
			if last {
				c[n] = value
			} else {
				cur = c[n]
			}
		default:
			t.Fatalf("cannot follow %q", p)
		}
	}
	b, _ := json.Marshal(v)
	return b
}

type env struct {
	t   testing.TB
	url string
	svc *queue.Service
}

// setup is what a test gives the receiver beyond the defaults.
type setup struct {
	people *queue.People
	client *github.Client                // GitHub's API; nil: none
	store  func(queue.Store) queue.Store // wraps the real store
}

func start(t testing.TB) *env { return startWith(t, setup{}) }

func startWith(t testing.TB, s setup) *env {
	sh := func(name string, auto queue.AutoDeploy) *queue.Environment {
		e := queuetest.Shell(name, "true")
		e.AutoDeploy = auto
		return e
	}
	apps := []*queue.App{
		{Name: "sample", Repo: "binkkatal/sample_app", DefaultRef: "master", DefaultEnv: "staging", Environments: []*queue.Environment{
			sh("staging", queue.AutoDeploy{On: []string{"push"}}),
			sh("production", queue.AutoDeploy{On: []string{"merge"}}),
			sh("qa", queue.AutoDeploy{On: []string{"push"}, Branch: "develop"}),
		}},
		{Name: "hello", Repo: "Codertocat/Hello-World", DefaultRef: "master", DefaultEnv: "staging", Environments: []*queue.Environment{
			sh("staging", queue.AutoDeploy{On: []string{"merge"}}),
			sh("production", queue.AutoDeploy{}),
		}},
	}
	q := queuetest.Start(t, apps, func(o *queue.Options) {
		o.People = s.people
		if s.store != nil {
			o.Store = s.store(o.Store)
		}
	})
	srv := httptest.NewServer(github.NewReceiver(secret, q.Svc, s.people, s.client, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, svc: q.Svc}
}

func sign(body []byte, key string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func (e *env) send(event, delivery string, body []byte, signature string) (int, github.Result) {
	e.t.Helper()
	code, raw := e.post(event, delivery, body, signature)
	var res github.Result
	json.Unmarshal([]byte(raw), &res)
	return code, res
}

// post sends a delivery and returns the answer as it came.
func (e *env) post(event, delivery string, body []byte, signature string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.url, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	if delivery != "" {
		req.Header.Set("X-GitHub-Delivery", delivery)
	}
	if signature != "" {
		req.Header.Set("X-Hub-Signature-256", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func (e *env) deploys() []*queue.Deploy {
	ds, _ := e.svc.Deploys(context.Background(), queue.DeployFilter{Limit: -1})
	return ds
}

func TestWebhooks(t *testing.T) {
	e := start(t)
	push := fixture(t, "push.default-branch.json")

	t.Run("ErrUnsigned", func(t *testing.T) {
		if code, _ := e.send("push", "d-1", push, ""); code != 401 {
			t.Fatalf("%d", code)
		}
	})
	t.Run("ErrBadSignature", func(t *testing.T) {
		if code, _ := e.send("push", "d-1", push, sign(push, "another secret")); code != 401 {
			t.Fatalf("%d", code)
		}
		if n := len(e.deploys()); n != 0 {
			t.Fatalf("%d deploys from refused requests", n)
		}
	})
	t.Run("ping", func(t *testing.T) {
		ping := fixture(t, "ping.json")
		code, res := e.send("ping", "d-ping", ping, sign(ping, secret))
		if code != 200 || !strings.HasPrefix(res.Ignored, "pong: ") {
			t.Fatalf("%d %+v", code, res)
		}
	})
	t.Run("push to the tracked branch auto-deploys", func(t *testing.T) {
		code, res := e.send("push", "d-push", push, sign(push, secret))
		if code != 202 || len(res.Deploys) != 1 {
			t.Fatalf("%d %+v", code, res)
		}
		d, _ := e.svc.Deploy(context.Background(), res.Deploys[0])
		if d.App != "sample" || d.Env != "staging" || d.Source != queue.SourceAuto || d.SHA != "fd489864e7642b48eaad6e3f155c10e46810ec72" ||
			d.Ref != "master" || d.User != "github:binkkatal" {
			t.Fatalf("%+v", d)
		}
		if email, _ := e.svc.Meta(context.Background(), d.ID, queue.MetaAuthorEmail); email != "binkkatal.r@gmail.com" {
			t.Fatalf("author email %q", email)
		}
	})
	t.Run("a redelivery does nothing twice", func(t *testing.T) {
		before := len(e.deploys())
		code, res := e.send("push", "d-push", push, sign(push, secret))
		if code != 200 || !res.Duplicate || len(e.deploys()) != before {
			t.Fatalf("%d %+v", code, res)
		}
	})
	t.Run("a push to another branch", func(t *testing.T) {
		other := derive(t, push, "refs/heads/feature", "ref")
		code, res := e.send("push", "d-push-feature", other, sign(other, secret))
		if code != 202 || len(res.Deploys) != 0 || !strings.Contains(res.Ignored, "no environment of binkkatal/sample_app auto-deploys on push to feature") {
			t.Fatalf("%d %+v", code, res)
		}
	})
	t.Run("closed without merging: nothing", func(t *testing.T) {
		pr := fixture(t, "pull_request.closed.not-merged.json")
		before := len(e.deploys())
		code, res := e.send("pull_request", "d-pr", pr, sign(pr, secret))
		if code != 202 || res.Ignored != "pull request closed without merging" || len(e.deploys()) != before {
			t.Fatalf("%d %+v", code, res)
		}
	})
	t.Run("merged: deploys where merges deploy", func(t *testing.T) {
		// No real example of a merged pull request exists: the closed one,
		// with merged set to true.
		pr := derive(t, fixture(t, "pull_request.closed.not-merged.json"), true, "pull_request", "merged")
		code, res := e.send("pull_request", "d-pr-merged", pr, sign(pr, secret))
		if code != 202 || len(res.Deploys) != 1 {
			t.Fatalf("%d %+v", code, res)
		}
		d, _ := e.svc.Deploy(context.Background(), res.Deploys[0])
		if d.App != "hello" || d.Env != "staging" || d.SHA != "c4295bd74fb0f4fda03689c3df3f2803b658fd85" || d.Source != queue.SourceAuto {
			t.Fatalf("%+v", d)
		}
	})
	t.Run("a deployment made elsewhere runs here", func(t *testing.T) {
		dep := fixture(t, "deployment.created.json")
		code, res := e.send("deployment", "d-dep", dep, sign(dep, secret))
		if code != 202 || len(res.Deploys) != 1 {
			t.Fatalf("%d %+v", code, res)
		}
		d, _ := e.svc.Deploy(context.Background(), res.Deploys[0])
		if d.App != "hello" || d.Env != "production" || d.Source != queue.SourceGitHub || d.GitHubDeploymentID != 145988746 ||
			d.SHA != "f95f852bd8fca8fcc58a9a2d6c842781e32a215e" || d.User != "github:Codertocat" {
			t.Fatalf("%+v", d)
		}
	})
	t.Run("a deployment for an unknown environment", func(t *testing.T) {
		dep := derive(t, fixture(t, "deployment.created.json"), "moon", "deployment", "environment")
		dep = derive(t, dep, 145988747, "deployment", "id")
		code, res := e.send("deployment", "d-dep-moon", dep, sign(dep, secret))
		if code != 202 || len(res.Deploys) != 0 || !strings.Contains(res.Ignored, `has an environment "moon"`) {
			t.Fatalf("%d %+v", code, res)
		}
	})
	t.Run("deployq's own deployments are not run again", func(t *testing.T) {
		dep := derive(t, fixture(t, "deployment.created.json"), map[string]any{github.PayloadKey: 7}, "deployment", "payload")
		code, res := e.send("deployment", "d-dep-ours", dep, sign(dep, secret))
		if code != 202 || res.Ignored != "a deployment deployq made" {
			t.Fatalf("%d %+v", code, res)
		}
	})
	t.Run("unknown repository", func(t *testing.T) {
		other := derive(t, push, "someone/else", "repository", "full_name")
		code, res := e.send("push", "d-other", other, sign(other, secret))
		if code != 202 || res.Ignored != "no app deploys someone/else" {
			t.Fatalf("%d %+v", code, res)
		}
	})
	t.Run("an event deployq does not use", func(t *testing.T) {
		st := fixture(t, "status.success.json")
		if code, res := e.send("status", "d-status", st, sign(st, secret)); code != 202 || res.Ignored == "" {
			t.Fatalf("%d %+v", code, res)
		}
		body := []byte(`{"zen":"x"}`)
		if code, res := e.send("marketplace_purchase_x", "d-x", body, sign(body, secret)); code != 202 || res.Ignored == "" {
			t.Fatalf("%d %+v", code, res)
		}
	})
	t.Run("a push to a locked environment is recorded as refused", func(t *testing.T) {
		if _, _, err := e.svc.Lock(context.Background(), queue.LockRequest{Env: "staging", App: "sample", Owner: "alice", Reason: "incident"}); err != nil {
			t.Fatal(err)
		}
		defer e.svc.Unlock(context.Background(), "staging", "sample", "alice")
		p := derive(t, push, "cccccccccccccccccccccccccccccccccccccccc", "after")
		code, res := e.send("push", "d-push-locked", p, sign(p, secret))
		if code != 202 || len(res.Deploys) != 0 || len(res.Refused) != 1 || !strings.Contains(res.Ignored, "sample in staging is locked by alice") {
			t.Fatalf("%d %+v", code, res)
		}
		d, _ := e.svc.Deploy(context.Background(), res.Refused[0])
		if d.State != queue.StateFailed || !strings.HasPrefix(d.Error, "auto-deploy refused: ") {
			t.Fatalf("%+v", d)
		}
	})
	t.Run("ErrMalformed", func(t *testing.T) {
		body := []byte(`{"ref": 12`)
		if code, _ := e.send("push", "d-bad", body, sign(body, secret)); code != 400 {
			t.Fatalf("%d", code)
		}
	})
	// Every queued deploy runs to the end.
	for _, d := range e.deploys() {
		ctx := context.Background()
		got, err := e.svc.FollowLog(ctx, d.ID, 0, func([]queue.LogLine) error { return nil })
		if err != nil || got.State != queue.StateSucceeded && !strings.HasPrefix(got.Error, "auto-deploy refused") {
			t.Fatalf("#%d: %v %+v", d.ID, err, got)
		}
	}
}
