package github_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/deployq/deployq/github"
)

const (
	shaA = "fd489864e7642b48eaad6e3f155c10e46810ec72" // the push fixture's
	shaB = "bb218f56b14c9653891f9e74264a383fa43fefbd"
)

// A signed push captured and sent again under a new delivery id does not
// roll the lane back: a sha auto-deployed from a branch to a lane is never
// auto-deployed there again by a webhook.
func TestReplayedPushDoesNotRollBack(t *testing.T) {
	e := start(t)
	pushA := fixture(t, "push.default-branch.json")
	pushB := derive(t, derive(t, pushA, shaB, "after"), shaA, "before")

	if code, res := e.send("push", "r-1", pushA, sign(pushA, secret)); code != 202 || len(res.Deploys) != 1 {
		t.Fatalf("push A: %d %+v", code, res)
	}
	if code, res := e.send("push", "r-2", pushB, sign(pushB, secret)); code != 202 || len(res.Deploys) != 1 {
		t.Fatalf("push B: %d %+v", code, res)
	}
	code, res := e.send("push", "r-3-replayed", pushA, sign(pushA, secret))
	if code != 200 || !res.Duplicate || len(res.Deploys) != 0 ||
		res.Ignored != "sample/staging: fd48986 was auto-deployed from master already" {
		t.Fatalf("replayed push A: %d %+v", code, res)
	}
	ds := e.deploys()
	if len(ds) != 2 || ds[0].SHA != shaB {
		t.Fatalf("%d deploys, the newest of %s", len(ds), ds[0].SHA)
	}
}

// A delivery without an id is refused, each time: nothing could tell a
// second one from the first.
func TestDeliveryWithoutID(t *testing.T) {
	e := start(t)
	push := fixture(t, "push.default-branch.json")
	for range 3 {
		code, body := e.post("push", "", push, sign(push, secret))
		if code != 400 || !strings.Contains(body, "a delivery needs its X-GitHub-Delivery id") {
			t.Fatalf("%d %s", code, body)
		}
	}
	long := strings.Repeat("d", 101)
	if code, body := e.post("push", long, push, sign(push, secret)); code != 400 {
		t.Fatalf("a 101-character delivery id: %d %s", code, body)
	}
	if n := len(e.deploys()); n != 0 {
		t.Fatalf("%d deploys", n)
	}
}

// compareAPI answers GitHub's compare endpoint with the fixture (status
// "behind"), or a variant with another status, or 502.
type compareAPI struct {
	t      *testing.T
	mu     sync.Mutex
	status string // "": the fixture's; "down": 502
	asked  []string
}

func (c *compareAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	basehead, ok := strings.CutPrefix(r.URL.Path, "/api/v3/repos/binkkatal/sample_app/compare/")
	switch {
	case !ok:
		http.NotFound(w, r)
	case c.status == "down":
		w.WriteHeader(http.StatusBadGateway)
	default:
		c.asked = append(c.asked, basehead)
		body := fixture(c.t, "api/compare-commits.200.json")
		if c.status != "" {
			body = derive(c.t, body, c.status, "status")
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}
}

// With GitHub's API, a push is deployed only if its sha is its branch's
// head on GitHub, or ahead of it: GitHub says which, not the payload. A
// sha never deployed but behind the branch (an old push replayed) is not;
// when GitHub cannot answer, the once-keys alone decide.
func TestOldPushAskedOfGitHub(t *testing.T) {
	api := &compareAPI{t: t}
	srv := httptest.NewServer(api)
	defer srv.Close()
	client, err := github.NewClient("gh-token", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	e := startWith(t, setup{client: client})
	for i, c := range []struct {
		name, status string
		deploys      bool
		ignored      string
	}{
		{"behind: an old push", "", false, "is behind the head of master on GitHub: an old push"},
		{"diverged: not on the branch any more", "diverged", false, "is not on master on GitHub any more"},
		{"identical: the head", "identical", true, ""},
		{"ahead: GitHub's API lags its webhook", "ahead", true, ""},
		{"GitHub down", "down", true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			api.mu.Lock()
			api.status, api.asked = c.status, nil
			api.mu.Unlock()
			sha := strings.Repeat(string(rune('a'+i)), 40)
			p := derive(t, fixture(t, "push.default-branch.json"), sha, "after")
			code, res := e.send("push", "cmp-"+c.status, p, sign(p, secret))
			if code != 202 || (len(res.Deploys) == 1) != c.deploys || !strings.Contains(res.Ignored, c.ignored) {
				t.Fatalf("%d %+v", code, res)
			}
			api.mu.Lock()
			defer api.mu.Unlock()
			if c.status != "down" && (len(api.asked) != 1 || api.asked[0] != "master..."+sha) {
				t.Fatalf("asked GitHub %q", api.asked)
			}
		})
	}
}
