package api

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
	"golang.org/x/oauth2"
)

// Signing in with GitHub: GitHub's authorize page, the code exchanged for
// a token, GET /user for the login, then whether the config lets that
// login in (by login, organization or team, asked of GitHub's API). The
// session's user is who People says the login is: a person's name, or
// github:login, never a bare login that a token's name could equal.

const stateCookie = "deployq_oauth_state"

// GitHubOAuth signs dashboard users in with GitHub, those Allow lets in.
type GitHubOAuth struct {
	ClientID, ClientSecret string
	// AuthURL, TokenURL and APIURL default to github.com's.
	AuthURL, TokenURL, APIURL string
	// Allow says who may sign in; an empty Allow lets no one in.
	Allow GitHubAllow
}

// GitHubAllow lets in a GitHub user who is one of Logins, an active
// member of one of Orgs, or a member of one of Teams ("org/team-slug").
// Names compare without regard to case, as GitHub's do.
type GitHubAllow struct {
	Orgs, Teams, Logins []string
}

// maxPages bounds the pages of organizations or teams read at a sign-in.
const maxPages = 10

func (s *Server) oauthConfig() *oauth2.Config {
	g := s.oauth
	authURL, tokenURL := g.AuthURL, g.TokenURL
	if authURL == "" {
		authURL = "https://github.com/login/oauth/authorize"
	}
	if tokenURL == "" {
		tokenURL = "https://github.com/login/oauth/access_token"
	}
	scopes := []string{"read:user"}
	if len(g.Allow.Orgs)+len(g.Allow.Teams) > 0 {
		scopes = append(scopes, "read:org") // private memberships and teams
	}
	return &oauth2.Config{ClientID: g.ClientID, ClientSecret: g.ClientSecret,
		Endpoint:    oauth2.Endpoint{AuthURL: authURL, TokenURL: tokenURL},
		RedirectURL: s.baseURL + "/ui/auth/github/callback", Scopes: scopes}
}

func (s *Server) githubAPI() string {
	if s.oauth.APIURL == "" {
		return "https://api.github.com"
	}
	return strings.TrimRight(s.oauth.APIURL, "/")
}

// githubLogin: GET /ui/auth/github -> GitHub's authorize page.
func (s *Server) githubLogin(w http.ResponseWriter, r *http.Request) {
	if s.oauth == nil {
		s.writeError(w, r, queue.Errorf(queue.EUnsupported, "GitHub sign-in is not set up (server.github_oauth)"))
		return
	}
	b := make([]byte, 16)
	rand.Read(b)
	state := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: state, Path: "/ui/auth/github", HttpOnly: true,
		Secure: s.sessions.secure, SameSite: http.SameSiteLaxMode, MaxAge: 600})
	http.Redirect(w, r, s.oauthConfig().AuthCodeURL(state), http.StatusFound)
}

// githubCallback: the code -> a token -> the GitHub login -> whether it
// may sign in -> a session, or a page that says why not.
func (s *Server) githubCallback(w http.ResponseWriter, r *http.Request) {
	if s.oauth == nil {
		s.writeError(w, r, queue.Errorf(queue.EUnsupported, "GitHub sign-in is not set up"))
		return
	}
	c, err := r.Cookie(stateCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.URL.Query().Get("state"))) != 1 {
		refuseSignIn(w, http.StatusForbidden, "This sign-in did not start here, or took more than ten minutes. Start again.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: "", Path: "/ui/auth/github", MaxAge: -1, Secure: s.sessions.secure})
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	conf := s.oauthConfig()
	tok, err := conf.Exchange(ctx, r.URL.Query().Get("code"))
	if err != nil {
		s.log.Warn("github sign-in: exchanging the code", "err", err)
		refuseSignIn(w, http.StatusBadGateway, "GitHub did not accept this sign-in. Start again.")
		return
	}
	gh := conf.Client(ctx, tok)
	var u struct {
		Login string `json:"login"`
	}
	if _, err := s.githubGet(ctx, gh, s.githubAPI()+"/user", &u); err != nil || u.Login == "" {
		s.log.Warn("github sign-in: reading the user", "err", err)
		refuseSignIn(w, http.StatusBadGateway, "GitHub did not say who you are. Start again.")
		return
	}
	ok, err := s.allowed(ctx, gh, u.Login)
	if err != nil {
		s.log.Warn("github sign-in: reading memberships", "login", u.Login, "err", err)
		refuseSignIn(w, http.StatusBadGateway, fmt.Sprintf("GitHub did not say which organizations and teams %s belongs to. Start again.", u.Login))
		return
	}
	if !ok {
		s.log.Info("github sign-in refused: not allowed", "login", u.Login)
		refuseSignIn(w, http.StatusForbidden, fmt.Sprintf("You are %s on GitHub, and this deployq lets in only the organizations, "+
			"teams and logins its configuration names (server.github_oauth.allow). Ask whoever runs it to let you in.", u.Login))
		return
	}
	user, err := s.people.Who(queue.FromGitHub, u.Login)
	if err != nil {
		refuseSignIn(w, http.StatusForbidden, queue.ErrorMessage(err))
		return
	}
	s.sessions.issue(w, user)
	http.Redirect(w, r, "/", http.StatusFound)
}

// allowed asks GitHub whether login is one Allow lets in: one of its
// logins, an active member of one of its organizations, a member of one
// of its teams.
func (s *Server) allowed(ctx context.Context, gh *http.Client, login string) (bool, error) {
	a := s.oauth.Allow
	if containsFold(a.Logins, login) {
		return true, nil
	}
	if len(a.Orgs) > 0 {
		var page []struct {
			State        string `json:"state"`
			Organization struct {
				Login string `json:"login"`
			} `json:"organization"`
		}
		found, err := s.githubPages(ctx, gh, "/user/memberships/orgs?state=active&per_page=100", &page, func() bool {
			for _, m := range page {
				if m.State == "active" && containsFold(a.Orgs, m.Organization.Login) {
					return true
				}
			}
			return false
		})
		if found || err != nil {
			return found, err
		}
	}
	if len(a.Teams) > 0 {
		var page []struct {
			Slug         string `json:"slug"`
			Organization struct {
				Login string `json:"login"`
			} `json:"organization"`
		}
		return s.githubPages(ctx, gh, "/user/teams?per_page=100", &page, func() bool {
			for _, t := range page {
				if containsFold(a.Teams, t.Organization.Login+"/"+t.Slug) {
					return true
				}
			}
			return false
		})
	}
	return false, nil
}

// githubPages reads the pages of a list of GitHub's API into page, one
// after another, until found says it has what it looks for.
func (s *Server) githubPages(ctx context.Context, gh *http.Client, path string, page any, found func() bool) (bool, error) {
	next := s.githubAPI() + path
	for i := 0; i < maxPages && next != ""; i++ {
		var err error
		if next, err = s.githubGet(ctx, gh, next, page); err != nil {
			return false, err
		}
		if found() {
			return true, nil
		}
	}
	return false, nil
}

// githubGet reads one answer of GitHub's API into v, and returns the URL
// of the next page (Link: rel="next"), if it is on the same API.
func (s *Server) githubGet(ctx context.Context, gh *http.Client, url string, v any) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	resp, err := gh.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", req.URL.Path, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(v); err != nil {
		return "", fmt.Errorf("GET %s: %w", req.URL.Path, err)
	}
	next := nextLink(resp.Header.Get("Link"))
	if !strings.HasPrefix(next, s.githubAPI()+"/") {
		next = ""
	}
	return next, nil
}

// nextLink is the rel="next" URL of a Link header, "" without one.
func nextLink(link string) string {
	for _, part := range strings.Split(link, ",") {
		url, params, ok := strings.Cut(strings.TrimSpace(part), ";")
		if ok && strings.Contains(params, `rel="next"`) {
			return strings.Trim(strings.TrimSpace(url), "<>")
		}
	}
	return ""
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// refusedPage is the page of a sign-in refused; %s is why, HTML-escaped.
// (html/template would keep every method of every type in the binary.)
const refusedPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>deployq: sign-in refused</title>
<link rel="stylesheet" href="/ui/static/style.css">
</head>
<body>
<main id="main" class="refused">
<h1>Sign-in refused</h1>
<p id="why">%s</p>
<p><a href="/#/login">Back to sign-in</a></p>
</main>
</body>
</html>
`

// refuseSignIn answers a GitHub sign-in that ends here with a page that
// says why.
func refuseSignIn(w http.ResponseWriter, status int, why string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'")
	w.WriteHeader(status)
	fmt.Fprintf(w, refusedPage, html.EscapeString(why))
}
