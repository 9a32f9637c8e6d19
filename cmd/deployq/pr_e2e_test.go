package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/deployq/deployq/internal/queuetest"
)

// fakePulls is GitHub's API for a pull request's conversation: it
// answers the pull request (the real pull_request object of a fixture)
// and records the comments deployq writes, edits and reacts with.
type fakePulls struct {
	url      string
	mu       sync.Mutex
	pull     map[string]any
	comments map[int64]string // id -> body, as last written
	order    []int64
	reacts   map[int64][]string // the command's comment -> reactions
	next     int64
	reviews  []map[string]any  // what GET reviews answers
	compared string            // the status GET compare answers
	trees    map[string]string // commit -> its tree, for GET git/commits
	checks   string            // the conclusion of the check run GET check-runs answers ("": success)
}

var pullsPath = regexp.MustCompile(`^/api/v3/repos/chhsia0/knative-route-demo/(pulls/3|pulls/3/reviews|compare/[0-9a-f]+\.\.\.[0-9a-f]+|commits/([0-9a-f]{40})|git/commits/([0-9a-f]{40})|commits/[0-9a-f]{40}/(status|check-runs)|issues/3/comments|issues/comments/([0-9]+)(/reactions)?)$`)

func newFakePulls(t *testing.T) *fakePulls {
	var fixture struct {
		PullRequest map[string]any `json:"pull_request"`
	}
	json.Unmarshal(mustRead(t, filepath.Join("..", "..", "github", "testdata", "pull_request.closed.not-merged.json")), &fixture)
	f := &fakePulls{pull: fixture.PullRequest, comments: map[int64]string{}, reacts: map[int64][]string{}, next: 900, trees: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		m := pullsPath.FindStringSubmatch(r.URL.Path)
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		var id int64
		if m != nil && m[5] != "" {
			fmt.Sscan(m[5], &id)
		}
		switch {
		case m == nil:
			w.WriteHeader(http.StatusNotFound)
		case r.Method == "GET" && m[1] == "pulls/3":
			json.NewEncoder(w).Encode(f.pull)
		case r.Method == "GET" && m[1] == "pulls/3/reviews":
			json.NewEncoder(w).Encode(append([]map[string]any{}, f.reviews...))
		case r.Method == "GET" && strings.HasPrefix(m[1], "compare/"):
			json.NewEncoder(w).Encode(map[string]any{"status": f.compared})
		case r.Method == "GET" && m[2] != "":
			json.NewEncoder(w).Encode(map[string]any{"sha": m[2]})
		case r.Method == "POST" && m[1] == "issues/3/comments":
			f.next++
			f.comments[f.next] = fmt.Sprint(body["body"])
			f.order = append(f.order, f.next)
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(map[string]any{"id": f.next, "body": body["body"]})
		case r.Method == "GET" && m[3] != "" && f.trees[m[3]] != "":
			json.NewEncoder(w).Encode(map[string]any{"sha": m[3], "tree": map[string]any{"sha": f.trees[m[3]]}})
		case r.Method == "GET" && m[4] == "status":
			w.Write(mustRead(t, filepath.Join("..", "..", "github", "testdata", "api", "get-combined-status-for-ref.200.json")))
		case r.Method == "GET" && m[4] == "check-runs":
			var runs map[string]any
			json.Unmarshal(mustRead(t, filepath.Join("..", "..", "github", "testdata", "api", "list-check-runs-for-ref.200.json")), &runs)
			if f.checks != "" {
				runs["check_runs"].([]any)[0].(map[string]any)["conclusion"] = f.checks
			}
			json.NewEncoder(w).Encode(runs)
		case r.Method == "PATCH" && m[6] == "":
			f.comments[id] = fmt.Sprint(body["body"])
			json.NewEncoder(w).Encode(map[string]any{"id": id, "body": body["body"]})
		case r.Method == "POST" && m[6] != "":
			f.reacts[id] = append(f.reacts[id], fmt.Sprint(body["content"]))
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(map[string]any{"id": 1, "content": body["content"]})
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL + "/api/v3/"
	t.Cleanup(func() {
		if t.Failed() {
			f.mu.Lock()
			t.Logf("comments %v; reactions %v", f.comments, f.reacts)
			f.mu.Unlock()
		}
	})
	return f
}

// said reports whether a comment of the pull request holds all of wants.
func (f *fakePulls) said(wants ...string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range f.order {
		all := true
		for _, w := range wants {
			all = all && strings.Contains(f.comments[id], w)
		}
		if all {
			return true
		}
	}
	return false
}

// reacted returns the reactions on the command's comment.
func (f *fakePulls) reacted(comment int64) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.reacts[comment], " ")
}

// prComment is the real pull request comment payload, as a command: body
// by login, comment id.
func prComment(t *testing.T, body, login string, id int64, action string) []byte {
	var p map[string]any
	json.Unmarshal(mustRead(t, filepath.Join("..", "..", "github", "testdata", "issue_comment.created.pull_request.json")), &p)
	c := p["comment"].(map[string]any)
	c["body"], c["id"] = body, id
	c["user"].(map[string]any)["login"] = login
	p["action"] = action
	b, _ := json.Marshal(p)
	return b
}

// Commands in a pull request's comments: .deploy to staging deploys its
// head, and the comment deployq writes ends "succeeded"; a locked
// environment queues the next .deploy until .unlock; someone outside the
// deployers is refused in the pull request; an edited comment runs
// nothing; a redelivered one runs once.
func TestPullRequestCommandsThroughTheBinary(t *testing.T) {
	f := newFakePulls(t)
	dir := t.TempDir()
	const secret = "pr-e2e-webhook-secret-0"
	cfg := `github:
  webhook_secret: ` + secret + `
  token: ghp_pr_e2e_00000000000000000000000000000
  api_url: ` + f.url + `
people:
  - {name: chhsia, github: [chhsia0]}
  - {name: alice, github: [alicegh]}
apps:
  - name: demo
    repo: chhsia0/knative-route-demo
    default_ref: master
    default_env: staging
    environments:
      - name: staging
        runner: shell
        shell: {command: "echo deploying $DEPLOY_SHA from $DEPLOY_REF noop=$${DEPLOY_NOOP:-0}"}
        pr_deploys: {allow: true}
        deployers: [chhsia, alice]
`
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	s := startServer(t, dir, nil)
	hook := &actionsHook{url: s.url, secret: secret}

	deploy := prComment(t, ".deploy to staging", "chhsia0", 1001, "created")
	if code, out := hook.send(t, "issue_comment", deploy); code != 202 || !strings.Contains(out, `"deploys":[1]`) {
		t.Fatalf(".deploy: %d %s", code, out)
	}
	mustContain(t, "#1", s.cliOK(t, nil, "logs", "-f", "1"), "deploying ec26c3e57ca3a959ca5aad62de7213c562f8c821 from changes", "succeeded")
	queuetest.Eventually(t, "the pull request's comment says it succeeded", func() bool {
		return f.said("deployq #1", "demo@changes", "succeeded") && f.reacted(1001) == "eyes rocket"
	})
	// Sent again (a redelivery): it ran once.
	if code, out := hook.send(t, "issue_comment", deploy); code != 200 || !strings.Contains(out, `"duplicate":true`) {
		t.Fatalf("redelivered: %d %s", code, out)
	}

	// Locked by alice: the next .deploy waits in the queue, .unlock lets it run.
	if code, out := hook.send(t, "issue_comment", prComment(t, ".lock staging --reason db migration", "alicegh", 1002, "created")); code != 202 {
		t.Fatalf(".lock: %d %s", code, out)
	}
	queuetest.Eventually(t, "the lock answered", func() bool { return f.reacted(1002) == "eyes rocket" })
	if code, out := hook.send(t, "issue_comment", prComment(t, ".deploy to staging", "chhsia0", 1003, "created")); code != 202 || !strings.Contains(out, `"deploys":[2]`) {
		t.Fatalf(".deploy while locked: %d %s", code, out)
	}
	queuetest.Eventually(t, "the comment says it waits for the lock", func() bool {
		return f.said("deployq #2", "waiting", "staging is locked by alice", "db migration")
	})
	if code, out := hook.send(t, "issue_comment", prComment(t, ".unlock staging", "alicegh", 1004, "created")); code != 202 {
		t.Fatalf(".unlock: %d %s", code, out)
	}
	mustContain(t, "#2", s.cliOK(t, nil, "logs", "-f", "2"), "succeeded")
	queuetest.Eventually(t, "#2's comment says it succeeded", func() bool { return f.said("deployq #2", "succeeded") })

	// Outside the deployers: refused, in the pull request.
	if code, out := hook.send(t, "issue_comment", prComment(t, ".deploy to staging", "mallory", 1005, "created")); code != 202 {
		t.Fatalf("mallory's .deploy: %d %s", code, out)
	}
	queuetest.Eventually(t, "the refusal in the pull request", func() bool {
		return f.said("@mallory", "may not deploy") && f.reacted(1005) == "eyes -1"
	})

	// An edited comment, and a comment that is no command, run nothing.
	for _, c := range [][]byte{prComment(t, ".deploy to staging", "chhsia0", 1001, "edited"), prComment(t, "lgtm", "chhsia0", 1006, "created")} {
		if code, out := hook.send(t, "issue_comment", c); code != 202 || strings.Contains(out, "deploys") {
			t.Fatalf("%d %s", code, out)
		}
	}
	if out := s.cliOK(t, nil, "history", "demo"); strings.Contains(out, "#3") {
		t.Fatalf("a deploy from a comment that was no command:\n%s", out)
	}

	// .noop: a dry run, in its turn; what runs in staging stays #2's.
	if code, out := hook.send(t, "issue_comment", prComment(t, ".noop to staging", "chhsia0", 1007, "created")); code != 202 || !strings.Contains(out, `"deploys":[3]`) {
		t.Fatalf(".noop: %d %s", code, out)
	}
	mustContain(t, "#3", s.cliOK(t, nil, "logs", "-f", "3"), "noop=1", "succeeded")
	queuetest.Eventually(t, "the dry run's comment", func() bool { return f.said("deployq #3", "dry run of", "succeeded") })
	mustContain(t, "where", s.cliOK(t, nil, "where", "demo"), "#2")
}

// The branch-deploy rules of production: a pull request needs an
// approved review; a head that does not contain what runs there is
// refused, unless .deploy!, and so is one whose checks failed; its
// deploy locks production for the pull request, and the merge releases
// the lock.
func TestPullRequestBranchDeployRules(t *testing.T) {
	f := newFakePulls(t)
	dir := t.TempDir()
	const secret = "pr-e2e-webhook-secret-0"
	cfg := `github:
  webhook_secret: ` + secret + `
  token: ghp_pr_e2e_00000000000000000000000000000
  api_url: ` + f.url + `
people:
  - {name: chhsia, github: [chhsia0]}
apps:
  - name: demo
    repo: chhsia0/knative-route-demo
    default_ref: master
    default_env: production
    environments:
      - name: production
        runner: shell
        shell: {command: "echo deploying $DEPLOY_SHA"}
        pr_deploys: {allow: true, require_checks: true, require_review: true, refuse_behind: true, sticky_lock: true}
`
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	s := startServer(t, dir, nil)
	hook := &actionsHook{url: s.url, secret: secret}
	running := strings.Repeat("a", 40)
	mustContain(t, "what runs in production", s.cliOK(t, []string{"USER=alice"}, "deploy", "-f", "demo@"+running, "to", "production"), "succeeded")

	ask := func(body string, id int64) {
		t.Helper()
		if code, out := hook.send(t, "issue_comment", prComment(t, body, "chhsia0", id, "created")); code != 202 {
			t.Fatalf("%s: %d %s", body, code, out)
		}
	}
	ask(".deploy to production", 2001)
	queuetest.Eventually(t, "refused for want of a review", func() bool {
		return f.said("needs an approved review", "no approved review") && f.reacted(2001) == "eyes -1"
	})
	f.mu.Lock()
	f.reviews = []map[string]any{{"id": 1, "user": map[string]any{"login": "octocat"}, "state": "APPROVED"}}
	f.compared = "behind"
	f.mu.Unlock()
	ask(".deploy to production", 2002)
	queuetest.Eventually(t, "refused: behind what runs", func() bool {
		return f.said("does not contain aaaaaaa", "roll back others' commits", ".deploy!") && f.reacted(2002) == "eyes -1"
	})
	f.mu.Lock()
	f.compared, f.checks = "ahead", "failure"
	f.mu.Unlock()
	ask(".deploy to production", 2004)
	queuetest.Eventually(t, "refused: a check failed", func() bool {
		return f.said("checks failed for ec26c3e") && f.reacted(2004) == "eyes -1"
	})
	ask(".deploy! to production", 2003)
	mustContain(t, "#2", s.cliOK(t, nil, "logs", "-f", "2"), "deploying ec26c3e57ca3a959ca5aad62de7213c562f8c821", "succeeded")
	mustContain(t, "the sticky lock", s.cliOK(t, nil, "queue", "production"), "chhsia")
	if out, code := s.cli(t, []string{"USER=alice"}, "", "deploy", "demo@"+running, "to", "production"); code == 0 ||
		!strings.Contains(out, "locked by chhsia") || !strings.Contains(out, "pull request chhsia0/knative-route-demo#3") {
		t.Fatalf("alice's deploy while the pull request holds production: %d %s", code, out)
	}

	// The pull request is merged: its lock goes.
	var closed map[string]any
	json.Unmarshal(mustRead(t, filepath.Join("..", "..", "github", "testdata", "pull_request.closed.not-merged.json")), &closed)
	closed["number"] = 3
	closed["repository"].(map[string]any)["full_name"] = "chhsia0/knative-route-demo"
	pr := closed["pull_request"].(map[string]any)
	pr["merged"], pr["merge_commit_sha"], pr["merged_by"] = true, strings.Repeat("d", 40), map[string]any{"login": "chhsia0"}
	body, _ := json.Marshal(closed)
	if code, out := hook.send(t, "pull_request", body); code != 202 {
		t.Fatalf("merged: %d %s", code, out)
	}
	if out := s.cliOK(t, nil, "queue", "production"); strings.Contains(out, "chhsia") {
		t.Fatalf("the lock after the merge:\n%s", out)
	}
}

// A pull request deployed to staging from its comment, then merged: the
// merge's auto-deploy is not run when its tree is the one running; a
// merge with another tree is deployed.
func TestMergeOfWhatRunsIsNotDeployedAgain(t *testing.T) {
	f := newFakePulls(t)
	dir := t.TempDir()
	const secret = "pr-e2e-webhook-secret-0"
	cfg := `github:
  webhook_secret: ` + secret + `
  token: ghp_pr_e2e_00000000000000000000000000000
  api_url: ` + f.url + `
apps:
  - name: demo
    repo: chhsia0/knative-route-demo
    default_ref: master
    default_env: staging
    environments:
      - name: staging
        runner: shell
        shell: {command: "echo deploying $DEPLOY_SHA"}
        pr_deploys: {allow: true}
        auto_deploy: {on: [merge]}
`
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	s := startServer(t, dir, nil)
	hook := &actionsHook{url: s.url, secret: secret}
	const head, merge, other = "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "cccccccccccccccccccccccccccccccccccccccc"
	f.mu.Lock()
	f.trees[head], f.trees[merge], f.trees[other] = "tree-1", "tree-1", "tree-2"
	f.mu.Unlock()
	if code, out := hook.send(t, "issue_comment", prComment(t, ".deploy", "chhsia0", 3001, "created")); code != 202 || !strings.Contains(out, `"deploys":[1]`) {
		t.Fatalf(".deploy: %d %s", code, out)
	}
	mustContain(t, "#1", s.cliOK(t, nil, "logs", "-f", "1"), "deploying "+head, "succeeded")
	merged := func(sha string) (int, string) {
		var p map[string]any
		json.Unmarshal(mustRead(t, filepath.Join("..", "..", "github", "testdata", "pull_request.closed.not-merged.json")), &p)
		p["number"] = 3
		p["repository"].(map[string]any)["full_name"] = "chhsia0/knative-route-demo"
		pr := p["pull_request"].(map[string]any)
		pr["merged"], pr["merge_commit_sha"], pr["merged_by"] = true, sha, map[string]any{"login": "chhsia0"}
		pr["base"].(map[string]any)["ref"] = "master"
		body, _ := json.Marshal(p)
		return hook.send(t, "pull_request", body)
	}
	if code, out := merged(merge); code/100 != 2 || strings.Contains(out, "deploys") || !strings.Contains(out, "has the tree of ec26c3e, which runs there already") {
		t.Fatalf("the merge of what runs: %d %s", code, out)
	}
	if code, out := merged(other); code != 202 || !strings.Contains(out, `"deploys":[2]`) {
		t.Fatalf("a merge with another tree: %d %s", code, out)
	}
}
