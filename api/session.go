package api

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/deployq/deployq/queue"
	"golang.org/x/oauth2"
)

// The dashboard signs in with an API token or with GitHub (OAuth); either
// way it then holds a session cookie naming the user, signed by the
// server. Requests that change something with a cookie must also carry
// the X-Deployq-UI header, which no other site can make a browser send:
// that stops cross-site requests riding on the cookie.

const (
	sessionCookie = "deployq_session"
	stateCookie   = "deployq_oauth_state"
	sessionTTL    = 12 * time.Hour
	uiHeader      = "X-Deployq-UI"
)

// GitHubOAuth signs dashboard users in with GitHub: their login is their
// deployq user name, for the same deployers, lockers and approvers rules.
type GitHubOAuth struct {
	ClientID, ClientSecret string
	// AuthURL, TokenURL and APIURL default to github.com's.
	AuthURL, TokenURL, APIURL string
}

type sessions struct {
	key []byte
}

func newSessions() *sessions {
	k := make([]byte, 32)
	rand.Read(k)
	return &sessions{key: k}
}

func (ss *sessions) sign(v string) string {
	m := hmac.New(sha256.New, ss.key)
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (ss *sessions) issue(w http.ResponseWriter, user string) {
	v := base64.RawURLEncoding.EncodeToString([]byte(user)) + "." + strconv.FormatInt(time.Now().Add(sessionTTL).Unix(), 10)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: v + "." + ss.sign(v), Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: int(sessionTTL.Seconds())})
}

// user reads a valid session cookie.
func (ss *sessions) user(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", false
	}
	i := strings.LastIndexByte(c.Value, '.')
	if i < 0 {
		return "", false
	}
	v, sig := c.Value[:i], c.Value[i+1:]
	if subtle.ConstantTimeCompare([]byte(sig), []byte(ss.sign(v))) != 1 {
		return "", false
	}
	name, exp, ok := strings.Cut(v, ".")
	if !ok {
		return "", false
	}
	t, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || time.Now().Unix() > t {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(name)
	if err != nil || !userRe.MatchString(string(b)) {
		return "", false
	}
	return string(b), true
}

// login: POST /ui/login {token} -> the session cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token string `json:"token"`
		User  string `json:"user"` // an open server: any name
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	user := claimed(req.User)
	if len(s.tokens) > 0 {
		user = s.tokenUser(req.Token)
	}
	if user == "" {
		s.writeError(w, r, queue.Errorf(queue.EUnauthorized, "unknown token"))
		return
	}
	s.sessions.issue(w, user)
	writeJSON(w, http.StatusOK, map[string]string{"user": user})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
	writeJSON(w, http.StatusOK, map[string]string{})
}

// uiWhoami: GET /ui/whoami, the dashboard's session user, null when it
// has none (no error: the page then shows its sign-in).
func (s *Server) uiWhoami(w http.ResponseWriter, r *http.Request) {
	var user any
	if u, ok := s.sessions.user(r); ok {
		user = u
	} else if len(s.tokens) == 0 {
		user = openUser(r)
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": user})
}

// signIn says how the dashboard may sign in: "open" (no tokens: just say
// who you are), "github" (GitHub OAuth is set up).
func (s *Server) signIn() map[string]any {
	return map[string]any{"open": len(s.tokens) == 0, "github": s.oauth != nil}
}

// uiConfig: GET /ui/config, how to sign in, before anyone has.
func (s *Server) uiConfig(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.signIn())
}

// whoami: GET /api/v1/whoami, through the usual auth: the user, and how
// to sign in.
func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	out := s.signIn()
	out["user"] = userOf(r)
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) oauthConfig(r *http.Request) *oauth2.Config {
	g := s.oauth
	authURL, tokenURL := g.AuthURL, g.TokenURL
	if authURL == "" {
		authURL = "https://github.com/login/oauth/authorize"
	}
	if tokenURL == "" {
		tokenURL = "https://github.com/login/oauth/access_token"
	}
	return &oauth2.Config{ClientID: g.ClientID, ClientSecret: g.ClientSecret,
		Endpoint:    oauth2.Endpoint{AuthURL: authURL, TokenURL: tokenURL},
		RedirectURL: s.baseURL + "/ui/auth/github/callback", Scopes: []string{"read:user"}}
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
		SameSite: http.SameSiteLaxMode, MaxAge: 600})
	http.Redirect(w, r, s.oauthConfig(r).AuthCodeURL(state), http.StatusFound)
}

// githubCallback: the code -> a token -> the GitHub login -> a session.
func (s *Server) githubCallback(w http.ResponseWriter, r *http.Request) {
	if s.oauth == nil {
		s.writeError(w, r, queue.Errorf(queue.EUnsupported, "GitHub sign-in is not set up"))
		return
	}
	c, err := r.Cookie(stateCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.URL.Query().Get("state"))) != 1 {
		s.writeError(w, r, queue.Errorf(queue.EForbidden, "GitHub sign-in: the state does not match; start again"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	tok, err := s.oauthConfig(r).Exchange(ctx, r.URL.Query().Get("code"))
	if err != nil {
		s.writeError(w, r, queue.Errorf(queue.EUnauthorized, "GitHub sign-in: %v", err))
		return
	}
	api := s.oauth.APIURL
	if api == "" {
		api = "https://api.github.com"
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(api, "/")+"/user", nil)
	req.Header.Set("Accept", "application/vnd.github+json")
	tok.SetAuthHeader(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.writeError(w, r, queue.Errorf(queue.EInternal, "GitHub sign-in: %v", err))
		return
	}
	defer resp.Body.Close()
	var u struct {
		Login string `json:"login"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&u) != nil || !userRe.MatchString(u.Login) {
		s.writeError(w, r, queue.Errorf(queue.EUnauthorized, "GitHub sign-in: GET /user answered %d", resp.StatusCode))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: "", Path: "/ui/auth/github", MaxAge: -1})
	s.sessions.issue(w, u.Login)
	http.Redirect(w, r, "/", http.StatusFound)
}
