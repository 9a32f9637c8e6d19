package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The github section of the servers' config.
const (
	githubToken  = "ghp_chaos0000000000000000000000000000000"
	githubSecret = "chaos-webhook-secret"
	githubOwner  = "acme"
)

// githubPayloadKey is the key of a deployment's payload that names the
// deployq deploy it is (github.PayloadKey).
const githubPayloadKey = "deployq_id"

// githubDeployment is a deployment deployq created on the fake GitHub.
type githubDeployment struct {
	id          int64
	from        string // the server that created it
	repo        string // owner/name
	ref, env    string
	description string
	deploy      int64 // the payload's deployq_id, 0 if none
}

// githubStatus is a deployment status deployq sent.
type githubStatus struct {
	deployment  int64
	from        string // the server that sent it
	state       string
	description string
	at          time.Time
}

// fakeGitHub is GitHub's REST API, enough of it for a deployq server with
// a token and apps with a repo: the deployments and their statuses it
// records, and the reads deployq makes of refs, checks and comparisons,
// answered for any full sha (CI has nothing to say: no check is
// required).
type fakeGitHub struct {
	srv *httptest.Server

	mu          sync.Mutex
	deployments map[int64]*githubDeployment
	statuses    []githubStatus
	calls       map[string]int // by route
	unknown     map[string]int // requests answered 404, by route
	next        int64          // the last deployment id handed out
}

func newFakeGitHub() *fakeGitHub {
	f := &fakeGitHub{deployments: map[int64]*githubDeployment{}, calls: map[string]int{}, unknown: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

// url is the api_url to give the server named server, in GitHub
// Enterprise's form (it ends with /api/v3/), and starting with the
// server's name, by which its calls are told from the others'.
func (f *fakeGitHub) url(server string) string { return f.srv.URL + "/" + server + "/api/v3/" }

func (f *fakeGitHub) close() { f.srv.Close() }

var fullSHARe = regexp.MustCompile(`^[0-9a-f]{40}$`)

// The answers have the shapes of GitHub's REST API, as its OpenAPI
// examples give them (the copies in github/testdata/api), with the
// values of this run.
func (f *fakeGitHub) serve(w http.ResponseWriter, r *http.Request) {
	from, path, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/api/v3/")
	path = strings.Trim(path, "/")
	p := strings.Split(path, "/")
	var body map[string]any
	if r.Method == http.MethodPost {
		json.NewDecoder(r.Body).Decode(&body)
	}
	f.mu.Lock()
	at := time.Now()
	defer f.mu.Unlock()
	answer := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	var route string
	switch {
	case r.Method == http.MethodGet && path == "user":
		route = "GET /user"
		answer(http.StatusOK, map[string]any{"login": "deployq-chaos", "id": 1, "type": "User"})
	case len(p) < 4 || p[0] != "repos":
		route = r.Method + " " + path
		f.unknown[route]++
		answer(http.StatusNotFound, notFound)
	default:
		repo, rest := p[1]+"/"+p[2], p[3:]
		route = f.repos(r.Method, from, repo, rest, body, at, answer)
	}
	f.calls[route]++
}

var notFound = map[string]any{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}

// repos answers /repos/{owner}/{repo}/rest...; it returns the route, for
// the counts. f.mu is held.
func (f *fakeGitHub) repos(method, from, repo string, rest []string, body map[string]any, at time.Time, answer func(int, any)) string {
	api := "https://api.github.com/repos/" + repo
	str := func(k string) string { s, _ := body[k].(string); return s }
	switch {
	case method == http.MethodPost && len(rest) == 1 && rest[0] == "deployments":
		f.next++
		d := &githubDeployment{id: f.next, from: from, repo: repo, ref: str("ref"), env: str("environment"), description: str("description")}
		payload, _ := body["payload"].(map[string]any)
		if n, ok := payload[githubPayloadKey].(float64); ok {
			d.deploy = int64(n)
		}
		f.deployments[d.id] = d
		url := fmt.Sprintf("%s/deployments/%d", api, d.id)
		answer(http.StatusCreated, map[string]any{"url": url, "id": d.id, "node_id": fmt.Sprintf("DE_chaos%d", d.id),
			"sha": d.ref, "ref": d.ref, "task": "deploy", "payload": payload, "original_environment": d.env, "environment": d.env,
			"description": d.description, "creator": creator, "created_at": at.UTC().Format(time.RFC3339), "updated_at": at.UTC().Format(time.RFC3339),
			"statuses_url": url + "/statuses", "repository_url": api, "transient_environment": false, "production_environment": false})
		return "POST deployments"
	case method == http.MethodPost && len(rest) == 3 && rest[0] == "deployments" && rest[2] == "statuses":
		id, _ := strconv.ParseInt(rest[1], 10, 64)
		d := f.deployments[id]
		if d == nil || d.repo != repo {
			f.unknown["POST deployments/{unknown}/statuses"]++
			answer(http.StatusNotFound, notFound)
			return "POST deployments/{id}/statuses"
		}
		s := githubStatus{deployment: id, from: from, state: str("state"), description: str("description"), at: at}
		f.statuses = append(f.statuses, s)
		url := fmt.Sprintf("%s/deployments/%d", api, id)
		answer(http.StatusCreated, map[string]any{"url": fmt.Sprintf("%s/statuses/%d", url, len(f.statuses)), "id": len(f.statuses),
			"node_id": fmt.Sprintf("DES_chaos%d", len(f.statuses)), "state": s.state, "creator": creator, "description": s.description,
			"environment": str("environment"), "target_url": str("log_url"), "created_at": at.UTC().Format(time.RFC3339),
			"updated_at": at.UTC().Format(time.RFC3339), "deployment_url": url, "repository_url": api,
			"environment_url": str("environment_url"), "log_url": str("log_url")})
		return "POST deployments/{id}/statuses"
	case method == http.MethodGet && len(rest) == 2 && rest[0] == "commits":
		sha := rest[1]
		if !fullSHARe.MatchString(sha) {
			answer(http.StatusUnprocessableEntity, map[string]any{"message": "No commit found for SHA: " + sha,
				"documentation_url": "https://docs.github.com/rest/commits/commits#get-a-commit"})
			return "GET commits/{ref}"
		}
		answer(http.StatusOK, map[string]any{"url": api + "/commits/" + sha, "sha": sha, "node_id": "C_chaos" + sha[:7],
			"html_url": "https://github.com/" + repo + "/commit/" + sha, "comments_url": api + "/commits/" + sha + "/comments",
			"commit": map[string]any{"message": "chaos " + sha[:7], "comment_count": 0,
				"author": map[string]any{"name": "Chaos Monkey", "email": "chaos@example.com", "date": at.UTC().Format(time.RFC3339)}},
			"author": creator, "committer": creator, "parents": []any{}})
		return "GET commits/{ref}"
	case method == http.MethodGet && len(rest) == 3 && rest[0] == "commits" && rest[2] == "status":
		answer(http.StatusOK, map[string]any{"state": "pending", "statuses": []any{}, "sha": rest[1], "total_count": 0,
			"commit_url": api + "/commits/" + rest[1], "url": api + "/commits/" + rest[1] + "/status"})
		return "GET commits/{ref}/status"
	case method == http.MethodGet && len(rest) == 3 && rest[0] == "commits" && rest[2] == "check-runs":
		answer(http.StatusOK, map[string]any{"total_count": 0, "check_runs": []any{}})
		return "GET commits/{ref}/check-runs"
	case method == http.MethodGet && len(rest) == 2 && rest[0] == "compare":
		answer(http.StatusOK, map[string]any{"url": api + "/compare/" + rest[1], "html_url": "https://github.com/" + repo + "/compare/" + rest[1],
			"status": "ahead", "ahead_by": 1, "behind_by": 0, "total_commits": 1, "commits": []any{}, "files": []any{}})
		return "GET compare/{basehead}"
	}
	route := method + " repos/{repo}/" + strings.Join(rest, "/")
	f.unknown[route]++
	answer(http.StatusNotFound, notFound)
	return route
}

// creator is the user GitHub says made a deployment or a status.
var creator = map[string]any{"login": "deployq-chaos", "id": 1, "node_id": "U_chaos", "type": "User", "site_admin": false}

// snapshot is a copy of the deployments and the statuses, these in the
// order they came.
func (f *fakeGitHub) snapshot() (map[int64]githubDeployment, []githubStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ds := make(map[int64]githubDeployment, len(f.deployments))
	for id, d := range f.deployments {
		ds[id] = *d
	}
	return ds, append([]githubStatus(nil), f.statuses...)
}

// unknownCalls says the requests answered 404: "GET repos/{repo}/tags
// 2", or "".
func (f *fakeGitHub) unknownCalls() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return stateSummary(f.unknown)
}

// heardCalls counts the calls it answered, by route.
func (f *fakeGitHub) heardCalls() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.calls)
}

// keep writes what it heard to path: the deployments, then the statuses
// in the order they came.
func (f *fakeGitHub) keep(path string) error {
	ds, ss := f.snapshot()
	var b strings.Builder
	for _, id := range sortedIDs(ds) {
		d := ds[id]
		fmt.Fprintf(&b, "deployment %d %s %s #%d %s %s %q\n", d.id, d.from, d.repo, d.deploy, d.env, d.ref, d.description)
	}
	for _, s := range ss {
		fmt.Fprintf(&b, "%s %s status deployment %d (#%d) %s %q\n", clock(s.at), s.from, s.deployment, ds[s.deployment].deploy, s.state, s.description)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
