package main_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
)

// fakeGitHubOAuth plays GitHub's OAuth app endpoints and GET /user.
type fakeGitHubOAuth struct {
	url   string
	login string
	mu    sync.Mutex
	n     int
}

func newFakeGitHubOAuth(t *testing.T) *fakeGitHubOAuth {
	t.Helper()
	b, err := os.ReadFile("testdata/oauth/compare-commits.200.json")
	if err != nil {
		t.Fatal(err)
	}
	var cmp struct {
		Commits []struct {
			Author map[string]any `json:"author"`
		} `json:"commits"`
	}
	if err := json.Unmarshal(b, &cmp); err != nil || len(cmp.Commits) == 0 {
		t.Fatalf("fixture: %v", err)
	}
	user := cmp.Commits[0].Author
	f := &fakeGitHubOAuth{login: user["login"].(string)}
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
		if r.Form.Get("code") != code || id != "deployq-test" || secret != "oauth-secret-0123456789" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		f.mu.Lock()
		f.n++
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"access_token": token, "token_type": "bearer", "scope": "read:user"})
	})
	mux.HandleFunc("GET /api/user", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(user)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fakeGitHubOAuth) exchanges() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}
