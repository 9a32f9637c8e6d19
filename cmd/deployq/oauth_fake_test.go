package main_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeGitHubOAuth plays GitHub for a dashboard sign-in: the OAuth app's
// endpoints, and GET /user, /user/memberships/orgs and /user/teams
// answered with real examples of GitHub's API (testdata/oauth).
type fakeGitHubOAuth struct {
	url   string
	login string

	mu     sync.Mutex
	n      int      // codes exchanged
	scopes []string // granted at the last authorize
}

func newFakeGitHubOAuth(t *testing.T) *fakeGitHubOAuth {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile("testdata/oauth/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	user, memberships, teams := read("user.200.json"), read("memberships-orgs.200.json"), read("teams.200.json")
	var u struct{ Login string }
	if err := json.Unmarshal(user, &u); err != nil || u.Login == "" {
		t.Fatalf("fixture user.200.json: %v", err)
	}
	f := &fakeGitHubOAuth{login: u.Login}
	const code, token = "fake-code-42", "gho_faketoken0123456789"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != "deployq-test" {
			http.Error(w, "bad client", http.StatusBadRequest)
			return
		}
		u, err := url.Parse(q.Get("redirect_uri"))
		if err != nil {
			http.Error(w, "bad redirect_uri", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.scopes = strings.Fields(q.Get("scope"))
		f.mu.Unlock()
		v := u.Query()
		v.Set("code", code)
		v.Set("state", q.Get("state"))
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.Form.Get("client_id"), r.Form.Get("client_secret")
		}
		w.Header().Set("Content-Type", "application/json")
		if r.Form.Get("code") != code || id != "deployq-test" || secret != "oauth-secret-0123456789" {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		f.mu.Lock()
		f.n++
		scope := strings.Join(f.scopes, ",")
		f.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]string{"access_token": token, "token_type": "bearer", "scope": scope})
	})
	// answer serves a fixture to the token, when it was granted scope.
	answer := func(body []byte, scope string, filter func(*http.Request, []byte) []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			if r.Header.Get("Authorization") != "Bearer "+token {
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"message":"Requires authentication"}`))
				return
			}
			if scope != "" && !f.granted(scope) {
				w.WriteHeader(http.StatusForbidden)
				w.Write([]byte(`{"message":"Forbidden"}`))
				return
			}
			out := body
			if filter != nil {
				out = filter(r, body)
			}
			w.Write(out)
		}
	}
	mux.HandleFunc("GET /api/user", answer(user, "", nil))
	mux.HandleFunc("GET /api/user/memberships/orgs", answer(memberships, "read:org", byState))
	mux.HandleFunc("GET /api/user/teams", answer(teams, "read:org", nil))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// byState keeps the memberships in the state ?state= asks for (all
// without it), as GitHub's /user/memberships/orgs does.
func byState(r *http.Request, body []byte) []byte {
	state := r.URL.Query().Get("state")
	if state == "" {
		return body
	}
	var all []map[string]any
	json.Unmarshal(body, &all)
	kept := []map[string]any{}
	for _, m := range all {
		if m["state"] == state {
			kept = append(kept, m)
		}
	}
	b, _ := json.Marshal(kept)
	return b
}

func (f *fakeGitHubOAuth) granted(scope string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.scopes, scope)
}

func (f *fakeGitHubOAuth) exchanges() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// config is the github_oauth section for this fake, letting in allow
// (YAML: {orgs: [...], teams: [...], logins: [...]}).
func (f *fakeGitHubOAuth) config(allow string) string {
	return `{client_id: deployq-test, client_secret: "${OAUTH_SECRET}", auth_url: ` + f.url + `/login/oauth/authorize, token_url: ` +
		f.url + `/login/oauth/access_token, api_url: ` + f.url + `/api, allow: ` + allow + `}`
}
