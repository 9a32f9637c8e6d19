package github_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/git"
	"github.com/deployq/deployq/github"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

const commitSHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e" // get-commit.200.json

func TestRefsThroughTheAPIAndChanges(t *testing.T) {
	var commits atomic.Int32
	var down atomic.Bool
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		p := strings.TrimPrefix(r.URL.Path, "/api/v3/repos/octocat/Hello-World/")
		switch {
		case down.Load():
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte(`{"message":"Server Error"}`))
		case p == "commits/main" || p == "commits/v1.0" || p == "commits/6dcb09b":
			commits.Add(1)
			w.Write(fixture(t, "api/get-commit.200.json"))
		case strings.HasPrefix(p, "compare/"):
			w.Write(fixture(t, "api/compare-commits.200.json"))
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"No commit found for SHA: nope"}`))
		}
	}))
	defer api.Close()
	client, _ := github.NewClient("gh-token", api.URL)
	dir := t.TempDir()
	res := github.NewResolver(client, git.NewResolver(dir))
	app := &queue.App{Name: "hello", Repo: "octocat/Hello-World"}
	ctx := context.Background()

	for _, ref := range []string{"main", "v1.0", "6dcb09b"} {
		if sha, err := res.Resolve(ctx, app, ref); err != nil || sha != commitSHA {
			t.Fatalf("%s: %q %v", ref, sha, err)
		}
	}
	if _, err := res.Resolve(ctx, app, "main"); err != nil || commits.Load() != 3 {
		t.Fatalf("not cached: %d calls, %v", commits.Load(), err)
	}
	if _, err := res.Resolve(ctx, app, "nope"); queue.ErrorCode(err) != queue.EInvalid || err.Error() != `octocat/Hello-World has no branch, tag or commit "nope"` {
		t.Fatalf("unknown ref: %v", err)
	}
	down.Store(true)
	if _, err := res.Resolve(ctx, app, "feature"); queue.ErrorCode(err) != queue.EInternal {
		t.Fatalf("GitHub down: %v", err)
	}
	down.Store(false)
	// apps without a repo resolve through their git URL
	if sha, err := res.Resolve(ctx, &queue.App{Name: "local"}, strings.Repeat("c", 40)); err != nil || sha != strings.Repeat("c", 40) {
		t.Fatalf("fallback: %q %v", sha, err)
	}

	// The chat reply links what a deploy changes from what runs now.
	apps := []*queue.App{{Name: "hello", Repo: "octocat/Hello-World", DefaultRef: "main", DefaultEnv: "production",
		Environments: []*queue.Environment{queuetest.Shell("production", "true")}}}
	svc := queuetest.Start(t, apps, func(o *queue.Options) { o.Resolver, o.Comparer = res, client }).Svc
	first, _ := svc.Submit(ctx, queue.Request{App: "hello", Ref: strings.Repeat("a", 40), SHA: strings.Repeat("a", 40), User: "alice"})
	svc.FollowLog(ctx, first.ID, 0, func([]queue.LogLine) error { return nil })
	r := bot.New(svc, "").Handle(ctx, bot.Message{User: "bob", Text: "deploy hello@main"})
	if r.Err != nil || !strings.Contains(r.Text, "#2 queued: hello@main (6dcb09b) to production by bob") ||
		!strings.Contains(r.Text, "changes: https://github.com/octocat/Hello-World/compare/master...topic (1 commit)") {
		t.Fatalf("%v\n%s", r.Err, r.Text)
	}
}

// An app with a repo lists its branches, then its tags, through the API,
// kept a moment.
func TestRefsListedThroughTheAPI(t *testing.T) {
	var lists atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v3/repos/octocat/Hello-World/branches":
			lists.Add(1)
			w.Write(fixture(t, "api/list-branches.200.json"))
		case "/api/v3/repos/octocat/Hello-World/tags":
			w.Write(fixture(t, "api/list-repository-tags.200.json"))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer api.Close()
	client, _ := github.NewClient("gh-token", api.URL)
	res := github.NewResolver(client, git.NewResolver(t.TempDir()))
	app := &queue.App{Name: "hello", Repo: "octocat/Hello-World"}
	for range 2 {
		if got, err := res.Refs(context.Background(), app); err != nil || strings.Join(got, ",") != "master,v0.1" {
			t.Fatalf("refs %q, %v", got, err)
		}
	}
	if lists.Load() != 1 {
		t.Fatalf("listed %d times: not kept", lists.Load())
	}
}
