package github_test

import (
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

// Behind a firewall: the poller sees the branch's first head (recorded,
// not deployed), then a new one (deployed once, where push or merge
// deploys), then the same one again (nothing).
func TestPolling(t *testing.T) {
	var mu sync.Mutex
	head := fixture(t, "api/get-ref.200.json")
	deployments := fixture(t, "api/list-deployments.200.json")
	refs := 0
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v3/repos/octocat/Hello-World/git/ref/heads/main":
			refs++
			w.Write(head)
		case "/api/v3/repos/octocat/Hello-World/deployments":
			w.Write(deployments)
		default:
			http.NotFound(w, r)
		}
	}))
	defer api.Close()
	env := func(name string, on ...string) *queue.Environment {
		e := queuetest.Shell(name, "true")
		e.AutoDeploy = queue.AutoDeploy{On: on}
		return e
	}
	apps := []*queue.App{{Name: "hello", Repo: "octocat/Hello-World", DefaultRef: "main", DefaultEnv: "staging",
		Environments: []*queue.Environment{env("staging", "push", "merge"), env("production")}}}
	q := queuetest.Start(t, apps, nil)
	svc, ctx := q.Svc, q.Ctx
	client, _ := github.NewClient("gh-token", api.URL)
	p := github.NewPoller(client, svc, nil, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	deploys := func() []*queue.Deploy {
		ds, _ := svc.Deploys(ctx, queue.DeployFilter{Limit: -1})
		return ds
	}

	p.Poll(ctx)
	if n := len(deploys()); n != 0 {
		t.Fatalf("the first head seen was deployed (%d)", n)
	}
	// No real example of a ref that moved: the fixture with another sha.
	mu.Lock()
	head = derive(t, head, "bb218f56b14c9653891f9e74264a383fa43fefbd", "object", "sha")
	mu.Unlock()
	p.Poll(ctx)
	p.Poll(ctx)
	ds := deploys()
	if len(ds) != 1 || ds[0].Env != "staging" || ds[0].SHA != "bb218f56b14c9653891f9e74264a383fa43fefbd" || ds[0].Source != queue.SourceAuto {
		t.Fatalf("%d deploys: %+v", len(ds), ds)
	}
	mu.Lock()
	reads := refs
	mu.Unlock()
	if reads != 3 {
		t.Fatalf("%d ref reads", reads)
	}
	if !strings.HasPrefix(ds[0].Ref, "main") {
		t.Fatalf("ref %q", ds[0].Ref)
	}

	// Deployments made on GitHub: the one there at the first poll was
	// recorded, not run; a new one (the fixture's, with another id) runs
	// once; one deployq made is left alone.
	mu.Lock()
	fresh := derive(t, deployments, float64(2), "0", "id")
	ours := derive(t, derive(t, deployments, float64(3), "0", "id"), map[string]any{github.PayloadKey: 9}, "0", "payload")
	var list []any
	for _, b := range [][]byte{ours, fresh, deployments} { // newest first, as GitHub lists them
		var one []any
		json.Unmarshal(b, &one)
		list = append(list, one[0])
	}
	deployments, _ = json.Marshal(list)
	mu.Unlock()
	p.Poll(ctx)
	p.Poll(ctx)
	var fromGitHub []*queue.Deploy
	for _, d := range deploys() {
		if d.Source == queue.SourceGitHub {
			fromGitHub = append(fromGitHub, d)
		}
	}
	if len(fromGitHub) != 1 || fromGitHub[0].GitHubDeploymentID != 2 || fromGitHub[0].Env != "production" || fromGitHub[0].User != "github:octocat" {
		t.Fatalf("%d deploys from GitHub deployments: %+v", len(fromGitHub), fromGitHub)
	}
}
