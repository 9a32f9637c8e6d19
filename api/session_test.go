package api_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/deployq/deployq/api"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

const aliceToken = "tok-alice-0123456789"

// sessionServer serves one app with alice's token, at baseURL.
func sessionServer(t *testing.T, baseURL string) *server {
	t.Helper()
	q := queuetest.Start(t, []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "staging",
		Environments: []*queue.Environment{queuetest.Shell("staging", "true")}}}, nil)
	return serve(t, q, api.Options{Tokens: map[string]string{aliceToken: "alice"}, BaseURL: baseURL})
}

// sessionCookie signs in with alice's token and returns the cookie set.
func sessionCookie(t *testing.T, s *server) *http.Cookie {
	t.Helper()
	r := s.do(t, "POST", "/ui/login", `{"token":"`+aliceToken+`"}`)
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "deployq_session" {
			return c
		}
	}
	t.Fatalf("login set no session cookie: %v", r.header)
	return nil
}

// The dashboard's session: a token signs in; the cookie then names the
// user; a change needs the UI header too (no cross-site request rides on
// the cookie); a made-up cookie is refused.
func TestDashboardSession(t *testing.T) {
	s := sessionServer(t, "")
	jar, _ := cookiejar.New(nil)
	s.client = &http.Client{Jar: jar}
	do := func(method, path, body string, hdr ...string) int {
		t.Helper()
		return s.do(t, method, path, body, hdr...).status
	}
	if got := do("GET", "/api/v1/environments", ""); got != 401 {
		t.Fatalf("without a session: %d", got)
	}
	if got := do("POST", "/ui/login", `{"token":"wrong"}`); got != 401 {
		t.Fatalf("a wrong token: %d", got)
	}
	if got := do("POST", "/ui/login", `{"token":"`+aliceToken+`"}`); got != 200 {
		t.Fatalf("login: %d", got)
	}
	if got := do("GET", "/api/v1/environments", ""); got != 200 {
		t.Fatalf("with the session: %d", got)
	}
	if got := do("POST", "/api/v1/locks", `{"env":"staging"}`); got != 403 {
		t.Fatalf("a change without the UI header: %d", got)
	}
	if got := do("POST", "/api/v1/locks", `{"env":"staging"}`, "X-Deployq-UI", "1"); got != 201 {
		t.Fatalf("a change with it: %d", got)
	}
	if ls, _ := s.q.Svc.Locks(t.Context()); len(ls) != 1 || ls[0].Owner != "alice" {
		t.Fatalf("locks %+v", ls)
	}
	u, _ := url.Parse(s.url)
	jar.SetCookies(u, []*http.Cookie{{Name: "deployq_session", Value: "Ym9i.4102444800.c2lnbmF0dXJl"}})
	if got := do("GET", "/api/v1/environments", ""); got != 401 {
		t.Fatalf("a made-up session: %d", got)
	}
}

// Signing out ends the session on the server: a copy of the cookie taken
// before works no more.
func TestLogoutEndsTheSession(t *testing.T) {
	s := sessionServer(t, "")
	c := sessionCookie(t, s)
	cookie := "deployq_session=" + c.Value
	if r := s.do(t, "GET", "/api/v1/whoami", "", "Cookie", cookie); r.status != 200 || !strings.Contains(r.body, `"user": "alice"`) {
		t.Fatalf("with the session: %d %s", r.status, r.body)
	}
	if r := s.do(t, "POST", "/ui/logout", "", "Cookie", cookie); r.status != 200 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	if r := s.do(t, "GET", "/api/v1/whoami", "", "Cookie", cookie); r.status != 401 {
		t.Fatalf("the copied cookie after logout: %d %s", r.status, r.body)
	}
	if r := s.do(t, "GET", "/ui/whoami", "", "Cookie", cookie); !strings.Contains(r.body, `"user": null`) {
		t.Fatalf("the dashboard still sees a user after logout: %s", r.body)
	}
}

// The session cookie is Secure when base_url is https, so a browser never
// sends it in the clear; over plain http it cannot be.
func TestSessionCookieSecure(t *testing.T) {
	for _, c := range []struct {
		base   string
		secure bool
	}{{"https://deployq.example.com", true}, {"http://127.0.0.1:8080", false}} {
		t.Run(c.base, func(t *testing.T) {
			s := sessionServer(t, c.base)
			if got := sessionCookie(t, s); got.Secure != c.secure || !got.HttpOnly || got.SameSite != http.SameSiteLaxMode {
				t.Fatalf("cookie %+v", got)
			}
			r := s.do(t, "POST", "/ui/logout", "")
			if set := r.header.Get("Set-Cookie"); strings.Contains(set, "Secure") != c.secure {
				t.Fatalf("logout's cookie %q", set)
			}
		})
	}
}

// Sign-in takes JSON only: a page of another site can post text/plain or
// a form without asking the browser's leave, never JSON.
func TestLoginTakesJSONOnly(t *testing.T) {
	s := sessionServer(t, "")
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		r := s.do(t, "POST", "/ui/login", `{"token":"`+aliceToken+`"}`, "Content-Type", ct)
		if r.status != 415 || !strings.HasPrefix(errCode(t, r), "unsupported_media_type: ") || r.header.Get("Set-Cookie") != "" {
			t.Fatalf("%q: %d %s %v", ct, r.status, r.body, r.header)
		}
	}
	if r := s.do(t, "POST", "/ui/login", `{"token":"`+aliceToken+`"}`, "Content-Type", "application/json; charset=utf-8"); r.status != 200 {
		t.Fatalf("JSON with a charset: %d %s", r.status, r.body)
	}
}
