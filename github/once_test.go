package github_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deployq/deployq/github"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// crashingStore fails the next deploy writes it is told to, as a crash
// between a delivery's arrival and its deploy's write would leave the
// database: the deploy not there, nothing of the delivery recorded.
type crashingStore struct {
	queue.Store
	fail atomic.Int32
}

func (s *crashingStore) CreateDeploy(ctx context.Context, d *queue.Deploy, e queue.AuditEntry) error {
	if s.fail.Add(-1) >= 0 {
		return errors.New("disk I/O error")
	}
	return s.Store.CreateDeploy(ctx, d, e)
}

// A delivery whose deploy could not be stored is answered with an error
// and recorded nowhere: its redelivery deploys, once.
func TestRedeliveryAfterALostWrite(t *testing.T) {
	for _, c := range []struct {
		name, event, fixture string
		env                  string
	}{
		{"push", "push", "push.default-branch.json", "staging"},
		{"deployment", "deployment", "deployment.created.json", "production"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var st *crashingStore
			e := startWith(t, setup{store: func(s queue.Store) queue.Store { st = &crashingStore{Store: s}; return st }})
			body := fixture(t, c.fixture)
			st.fail.Store(1)
			code, raw := e.post(c.event, "lost-1", body, sign(body, secret))
			if code != 500 || !strings.Contains(raw, "redeliver it") || len(e.deploys()) != 0 {
				t.Fatalf("the delivery whose write failed: %d %s", code, raw)
			}
			code, res := e.send(c.event, "lost-1", body, sign(body, secret))
			if code != 202 || len(res.Deploys) != 1 {
				t.Fatalf("the redelivery: %d %+v", code, res)
			}
			if ds := e.deploys(); len(ds) != 1 || ds[0].Env != c.env {
				t.Fatalf("%d deploys: %+v", len(ds), ds)
			}
			if code, res := e.send(c.event, "lost-1", body, sign(body, secret)); code != 200 || !res.Duplicate || len(e.deploys()) != 1 {
				t.Fatalf("a second redelivery: %d %+v", code, res)
			}
		})
	}
}

// One push that deploys two lanes has a key per lane: the lane whose
// write failed is deployed by the redelivery, the other is not again.
func TestRedeliveryDeploysOnlyTheLaneLost(t *testing.T) {
	lane := func(name string) *queue.Environment {
		e := queuetest.Shell(name, "true")
		e.AutoDeploy = queue.AutoDeploy{On: []string{"push"}}
		return e
	}
	apps := []*queue.App{{Name: "sample", Repo: "binkkatal/sample_app", DefaultRef: "master", DefaultEnv: "staging",
		Environments: []*queue.Environment{lane("staging"), lane("canary")}}}
	var st *crashingStore
	q := queuetest.Start(t, apps, func(o *queue.Options) { st = &crashingStore{Store: o.Store}; o.Store = st })
	srv := httptest.NewServer(github.NewReceiver(secret, q.Svc, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	e := &env{t: t, url: srv.URL, svc: q.Svc}
	push := fixture(t, "push.default-branch.json")

	st.fail.Store(1) // staging's write, the first
	if code, _ := e.post("push", "two-lanes", push, sign(push, secret)); code != 500 {
		t.Fatalf("%d", code)
	}
	if ds := e.deploys(); len(ds) != 1 || ds[0].Env != "canary" {
		t.Fatalf("after the lost write: %+v", ds)
	}
	code, res := e.send("push", "two-lanes", push, sign(push, secret))
	if code != 202 || len(res.Deploys) != 1 || res.Ignored != "sample/canary: fd48986 was auto-deployed from master already" {
		t.Fatalf("the redelivery: %d %+v", code, res)
	}
	if ds := e.deploys(); len(ds) != 2 || ds[0].Env != "staging" {
		t.Fatalf("after the redelivery: %+v", ds)
	}
}

// pollAPI answers the poller's two reads with what the test sets.
type pollAPI struct {
	mu                sync.Mutex
	head, deployments []byte
}

func (a *pollAPI) set(head, deployments []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.head, a.deployments = head, deployments
}

func (a *pollAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/api/v3/repos/octocat/Hello-World/git/ref/heads/main":
		w.Write(a.head)
	case "/api/v3/repos/octocat/Hello-World/deployments":
		w.Write(a.deployments)
	default:
		http.NotFound(w, r)
	}
}

// A new head or deployment whose deploy could not be stored is not
// recorded as seen: the next poll deploys it, once. A head the webhook
// deployed already is not deployed again by a poll.
func TestPollingAfterALostWrite(t *testing.T) {
	head, deployments := fixture(t, "api/get-ref.200.json"), fixture(t, "api/list-deployments.200.json")
	api := &pollAPI{}
	api.set(head, deployments)
	srv := httptest.NewServer(api)
	defer srv.Close()
	staging := queuetest.Shell("staging", "true")
	staging.AutoDeploy = queue.AutoDeploy{On: []string{"push"}}
	apps := []*queue.App{{Name: "hello", Repo: "octocat/Hello-World", DefaultRef: "main", DefaultEnv: "staging",
		Environments: []*queue.Environment{staging, queuetest.Shell("production", "true")}}}
	var st *crashingStore
	q := queuetest.Start(t, apps, func(o *queue.Options) { st = &crashingStore{Store: o.Store}; o.Store = st })
	client, _ := github.NewClient("gh-token", srv.URL)
	p := github.NewPoller(client, q.Svc, nil, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	deploys := func() []*queue.Deploy {
		ds, _ := q.Svc.Deploys(q.Ctx, queue.DeployFilter{Limit: -1})
		return ds
	}
	p.Poll(q.Ctx) // the first head and deployment: recorded, not run

	// A new head and a new deployment (the fixtures with another sha, id).
	api.set(derive(t, head, "bb218f56b14c9653891f9e74264a383fa43fefbd", "object", "sha"),
		derive(t, deployments, float64(2), "0", "id"))
	st.fail.Store(2)
	p.Poll(q.Ctx)
	if n := len(deploys()); n != 0 {
		t.Fatalf("%d deploys with their writes failing", n)
	}
	p.Poll(q.Ctx)
	p.Poll(q.Ctx)
	ds := deploys()
	if len(ds) != 2 {
		t.Fatalf("%d deploys after the writes failed once: %+v", len(ds), ds)
	}
	for _, d := range ds {
		switch {
		case d.Source == queue.SourceAuto && d.Env == "staging" && d.SHA == "bb218f56b14c9653891f9e74264a383fa43fefbd":
		case d.Source == queue.SourceGitHub && d.Env == "production" && d.GitHubDeploymentID == 2:
		default:
			t.Fatalf("%+v", d)
		}
	}

	// The webhook deploys a newer head; the poll that sees it next does not.
	newer := "cccccccccccccccccccccccccccccccccccccccc"
	e := &env{t: t, svc: q.Svc}
	rc := httptest.NewServer(github.NewReceiver(secret, q.Svc, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer rc.Close()
	e.url = rc.URL
	push := derive(t, derive(t, derive(t, fixture(t, "push.default-branch.json"), "octocat/Hello-World", "repository", "full_name"),
		"refs/heads/main", "ref"), newer, "after")
	if code, res := e.send("push", "poll-and-push", push, sign(push, secret)); code != 202 || len(res.Deploys) != 1 {
		t.Fatalf("%d %+v", code, res)
	}
	api.set(derive(t, head, newer, "object", "sha"), deployments)
	p.Poll(q.Ctx)
	if n := len(deploys()); n != 3 {
		t.Fatalf("%d deploys: the poll deployed what the webhook had", n)
	}
}
