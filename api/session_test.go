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

// The dashboard's session: a token signs in; the cookie then names the
// user; a change needs the UI header too (no cross-site request rides on
// the cookie); a forged cookie is refused.
func TestDashboardSession(t *testing.T) {
	q := queuetest.Start(t, []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "staging",
		Environments: []*queue.Environment{queuetest.Shell("staging", "true")}}}, nil)
	s := serve(t, q, api.Options{Tokens: map[string]string{"tok-alice-0123456789": "alice"}})
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
	if got := do("POST", "/ui/login", `{"token":"tok-alice-0123456789"}`); got != 200 {
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
	if ls, _ := q.Svc.Locks(t.Context()); len(ls) != 1 || ls[0].Owner != "alice" {
		t.Fatalf("locks %+v", ls)
	}
	// forge: another name with the same signature
	u, _ := url.Parse(s.url)
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "deployq_session" {
			parts := strings.SplitN(ck.Value, ".", 2)
			ck.Value = "Ym9i." + parts[1] // "bob"
			jar.SetCookies(u, []*http.Cookie{ck})
		}
	}
	if got := do("GET", "/api/v1/environments", ""); got != 401 {
		t.Fatalf("a forged session: %d", got)
	}
}
