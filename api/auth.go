package api

import (
	"context"
	"crypto/subtle"
	"net/http"
	"regexp"
	"strings"

	"github.com/deployq/deployq/queue"
)

// Who makes a request: the user of a bearer token, the user of a
// dashboard session (session.go), or, on an open server (no tokens),
// whoever the request says it is.

type userKey struct{}

var userRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// auth puts the request's user in its context for userOf, or answers
// unauthorized or forbidden.
func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, err := s.requestUser(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, user)))
	})
}

// requestUser is who makes r: the bearer token's user, the session's
// (EForbidden for a change without the UI header), or on an open server
// the one the request names. EUnauthorized for anyone else.
func (s *Server) requestUser(r *http.Request) (string, error) {
	token, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	session, cookie := s.sessions.user(r)
	switch {
	case bearer && len(s.tokens) > 0:
		if user := s.tokenUser(token); user != "" {
			return user, nil
		}
	case cookie:
		// the dashboard: changes must come with the UI header, which
		// another site cannot make a browser send
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get(uiHeader) == "" {
			return "", queue.Errorf(queue.EForbidden, "a change from a browser session needs the %s header", uiHeader)
		}
		return session, nil
	case len(s.tokens) == 0:
		return openUser(r), nil
	}
	return "", queue.Errorf(queue.EUnauthorized, "missing or unknown bearer token")
}

// userOf returns the user auth found for r.
func userOf(r *http.Request) string { u, _ := r.Context().Value(userKey{}).(string); return u }

// tokenUser returns the user of a bearer token, "" for an unknown one.
func (s *Server) tokenUser(token string) string {
	user := ""
	for tok, name := range s.tokens {
		if subtle.ConstantTimeCompare([]byte(token), []byte(tok)) == 1 {
			user = name
		}
	}
	return user
}

// openUser is who a request to an open server says it is: the
// X-Deployq-User header.
func openUser(r *http.Request) string { return claimed(r.Header.Get("X-Deployq-User")) }

// claimed is the name someone gives on an open server when it is a valid
// user name, "anonymous" when not.
func claimed(name string) string {
	if userRe.MatchString(name) {
		return name
	}
	return "anonymous"
}
