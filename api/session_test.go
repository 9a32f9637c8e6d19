package api_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
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
	svc := queuetest.Start(t, []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "staging",
		Environments: []*queue.Environment{queuetest.Shell("staging", "true")}}}, nil).Svc
	ts := httptest.NewServer(api.New(api.Options{Service: svc, Tokens: map[string]string{"tok-alice-0123456789": "alice"}}))
	t.Cleanup(ts.Close)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	do := func(method, path, body string, hdr ...string) int {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
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
	if ls, _ := svc.Locks(t.Context()); len(ls) != 1 || ls[0].Owner != "alice" {
		t.Fatalf("locks %+v", ls)
	}
	// forge: another name with the same signature
	u, _ := url.Parse(ts.URL)
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
