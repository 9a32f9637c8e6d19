package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/deployq/deployq/queue"
)

// The dashboard signs in with an API token or with GitHub (OAuth,
// oauth.go); either way it then holds a session cookie: a random key to a
// session the server keeps, which sign-out ends for good. Requests that
// change something with a cookie must also carry the X-Deployq-UI header,
// which no other site can make a browser send: that stops cross-site
// requests riding on the cookie.

const (
	sessionCookie = "deployq_session"
	sessionTTL    = 12 * time.Hour
	maxSessions   = 10000 // past it, signing in ends the session closest to its end
	uiHeader      = "X-Deployq-UI"
)

// sessions are the dashboard's sessions, by the hash of their key.
type sessions struct {
	secure bool // cookies only over https: base_url is https

	mu   sync.Mutex
	byID map[[sha256.Size]byte]session
}

type session struct {
	user    string
	expires time.Time
}

func newSessions(secure bool) *sessions {
	return &sessions{secure: secure, byID: map[[sha256.Size]byte]session{}}
}

// issue starts a session for user and sets its cookie.
func (ss *sessions) issue(w http.ResponseWriter, user string) {
	k := make([]byte, 32)
	rand.Read(k)
	key := base64.RawURLEncoding.EncodeToString(k)
	now := time.Now()
	ss.mu.Lock()
	if len(ss.byID) >= maxSessions {
		ss.evict(now)
	}
	ss.byID[sha256.Sum256([]byte(key))] = session{user: user, expires: now.Add(sessionTTL)}
	ss.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: key, Path: "/", HttpOnly: true, Secure: ss.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(sessionTTL.Seconds())})
}

// evict forgets the ended sessions, and if none had, the one closest to
// its end. ss.mu is held.
func (ss *sessions) evict(now time.Time) {
	var first [sha256.Size]byte
	var firstEnd time.Time
	for id, s := range ss.byID {
		if now.After(s.expires) {
			delete(ss.byID, id)
		} else if firstEnd.IsZero() || s.expires.Before(firstEnd) {
			first, firstEnd = id, s.expires
		}
	}
	if len(ss.byID) >= maxSessions {
		delete(ss.byID, first)
	}
}

// user is the user of the request's session, if it has a live one.
func (ss *sessions) user(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return "", false
	}
	id := sha256.Sum256([]byte(c.Value))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.byID[id]
	if !ok {
		return "", false
	}
	if time.Now().After(s.expires) {
		delete(ss.byID, id)
		return "", false
	}
	return s.user, true
}

// end ends the request's session, and clears its cookie.
func (ss *sessions) end(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		ss.mu.Lock()
		delete(ss.byID, sha256.Sum256([]byte(c.Value)))
		ss.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: ss.secure,
		SameSite: http.SameSiteLaxMode})
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

// logout: POST /ui/logout ends the session: its cookie no longer works,
// even where it was copied.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	s.sessions.end(w, r)
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
