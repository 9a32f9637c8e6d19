package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
)

// Signing in with GitHub lets in only whom server.github_oauth.allow
// names: logins, active members of organizations, members of teams, as
// GitHub's API says (asked with read:org only when organizations or
// teams are named). Anyone else gets a page that says so, and no
// session. The user signed in is the person the config maps the login to,
// else github:login: never the user of a token that bears the login's name.
func TestGitHubSignInAllows(t *testing.T) {
	gh := newFakeGitHubOAuth(t)
	cases := []struct {
		name, allow, people string
		readOrg             bool   // the sign-in asks for read:org
		user                string // "": refused
	}{
		{"ByLogin", "{logins: [mona, OctoCat]}", "", false, "github:octocat"},
		{"ByOrganization", "{orgs: [acme, github]}", "", true, "github:octocat"},
		{"ByTeam", "{teams: [github/justice-league]}", "", true, "github:octocat"},
		{"APerson", "{logins: [octocat]}", "people:\n  - {name: mona, github: [octocat]}\n", false, "mona"},
		{"ErrOtherLogins", "{logins: [mona]}", "", false, ""},
		{"ErrOtherOrganization", "{orgs: [acme]}", "", true, ""},
		{"ErrOtherTeam", "{teams: [github/avengers, acme/justice-league]}", "", true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := oauthServer(t, gh, c.allow, c.people)
			status, page := s.signIn(t)
			if got := gh.granted("read:org"); got != c.readOrg {
				t.Errorf("read:org asked: %v", got)
			}
			user := s.whoami(t)
			if c.user == "" {
				if status != 403 || !strings.Contains(page, "You are octocat on GitHub") || !strings.Contains(page, "server.github_oauth.allow") {
					t.Fatalf("refused sign-in: %d\n%s", status, page)
				}
				if user != "" {
					t.Fatalf("a refused sign-in left a session for %q", user)
				}
				return
			}
			if status != 200 || user != c.user {
				t.Fatalf("sign-in: %d, user %q, want %q\n%s", status, user, c.user, page)
			}
		})
	}
}

// A GitHub login that equals a token's name is not that token's user: the
// rights given to the token's name are not the GitHub user's.
func TestGitHubLoginIsNotATokenUser(t *testing.T) {
	gh := newFakeGitHubOAuth(t)
	s := oauthServer(t, gh, "{logins: [octocat]}", "")
	if status, page := s.signIn(t); status != 200 {
		t.Fatalf("sign-in: %d\n%s", status, page)
	}
	if user := s.whoami(t); user != "github:octocat" {
		t.Fatalf("signed in as %q", user)
	}
	lock := func(hdr ...string) (int, string) {
		req, _ := http.NewRequest("POST", s.url+"/api/v1/locks", strings.NewReader(`{"env":"production","reason":"mine"}`))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := lock("X-Deployq-UI", "1"); status != 403 || !strings.Contains(body, "github:octocat") {
		t.Fatalf("the GitHub user locked where only the token octocat may: %d %s", status, body)
	}
	if status, body := lock("Authorization", "Bearer octocat-token-0123456789"); status != 201 {
		t.Fatalf("the token's user: %d %s", status, body)
	}
}

// oauthSignIn is a server with GitHub sign-in and a browser's cookies.
type oauthSignIn struct {
	url    string
	client *http.Client
}

// oauthServer runs deployq with GitHub sign-in letting in allow, a token
// named octocat that alone may lock production, and people.
func oauthServer(t *testing.T, gh *fakeGitHubOAuth, allow, people string) *oauthSignIn {
	t.Helper()
	t.Setenv("OAUTH_SECRET", "oauth-secret-0123456789")
	t.Setenv("OCTOCAT_TOKEN", "octocat-token-0123456789")
	m := MustRunMain(t, fmt.Sprintf(`server:
  api_tokens:
    - {name: octocat, token: "${OCTOCAT_TOKEN}"}
  github_oauth: %s
%sapps:
  - name: web
    environments:
      - name: production
        runner: shell
        shell: {command: "true"}
        lockers: [octocat, mona]
`, gh.config(allow), people))
	jar, _ := cookiejar.New(nil)
	return &oauthSignIn{url: m.URL, client: &http.Client{Jar: jar}}
}

// signIn goes through GitHub's sign-in as a browser would, following the
// redirects, and returns where it ends.
func (s *oauthSignIn) signIn(t *testing.T) (int, string) {
	t.Helper()
	resp, err := s.client.Get(s.url + "/ui/auth/github")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// whoami is the user of the session, "" without one.
func (s *oauthSignIn) whoami(t *testing.T) string {
	t.Helper()
	resp, err := s.client.Get(s.url + "/api/v1/whoami")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var who struct{ User string }
	json.NewDecoder(resp.Body).Decode(&who)
	return who.User
}
