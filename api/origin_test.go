package api_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/deployq/deployq/queue"
)

// An open server (no tokens: whoever asks is whoever they say) takes no
// change from a page of another site, whatever the browser's mode, and
// answers to its own names only, so a name of someone else's resolving
// to 127.0.0.1 (DNS rebinding) reaches nothing.
func TestOpenServerRefusesOtherSites(t *testing.T) {
	s := newServer(t, "true", nil)
	u, _ := url.Parse(s.url)
	port := u.Port()
	deploy := `{"app":"web","env":"production","ref":"` + sha1 + `"}`
	cases := []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		want                     string // the error's "code: message" prefix
	}{
		{"ErrCrossSiteFetch", "POST", "/api/v1/deploys", deploy,
			[]string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "no-cors"}, 403,
			`forbidden: a change sent by a page of another site is refused (Origin "https://evil.example")`},
		{"ErrSameSiteOtherPort", "POST", "/api/v1/locks", `{"env":"production"}`,
			[]string{"Origin", "http://127.0.0.1:1", "Sec-Fetch-Site", "same-site"}, 403, "forbidden: a change sent by a page of another site"},
		{"ErrOtherOriginWithoutFetchMetadata", "DELETE", "/api/v1/locks/production", "",
			[]string{"Origin", "http://evil.example"}, 403, "forbidden: a change sent by a page of another site"},
		{"ErrTextPlain", "POST", "/api/v1/deploys", deploy,
			[]string{"Content-Type", "text/plain;charset=UTF-8"}, 415, `unsupported_media_type: the body must be JSON`},
		{"ErrForm", "POST", "/api/v1/locks", `env=production`,
			[]string{"Content-Type", "application/x-www-form-urlencoded"}, 415, `unsupported_media_type: the body must be JSON`},
		{"ErrRebindingRead", "GET", "/api/v1/environments", "",
			[]string{"Host", "evil.example:" + port}, 403, `forbidden: this open server answers to localhost, loopback addresses and its base_url only, not to "evil.example:`},
		{"ErrRebindingChange", "POST", "/api/v1/deploys", deploy,
			[]string{"Host", "evil.example:" + port, "Origin", "http://evil.example:" + port, "Sec-Fetch-Site", "same-origin"}, 403, "forbidden: this open server answers"},
		{"ErrRebindingPage", "GET", "/", "", []string{"Host", "evil.example:" + port}, 403, "forbidden: this open server answers"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.do(t, c.method, c.path, c.body, c.hdr...)
			if r.status != c.status || !strings.HasPrefix(errCode(t, r), c.want) {
				t.Fatalf("got %d %s\nwant %d %s", r.status, errCode(t, r), c.status, c.want)
			}
		})
	}
	if ds, _ := s.q.Svc.Deploys(context.Background(), queue.DeployFilter{}); len(ds) != 0 {
		t.Fatalf("a page of another site deployed: %+v", ds[0])
	}
	if ls, _ := s.q.Svc.Locks(context.Background()); len(ls) != 0 {
		t.Fatalf("a page of another site locked: %+v", ls[0])
	}

	// The server's own page, the CLI, and its names still get through.
	ok := []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
	}{
		{"its own page", "POST", "/api/v1/locks", `{"env":"production","reason":"mine"}`,
			[]string{"Origin", s.url, "Sec-Fetch-Site", "same-origin", "X-Deployq-User", "alice"}, 201},
		{"the CLI", "DELETE", "/api/v1/locks/production", "", []string{"X-Deployq-User", "alice"}, 200},
		{"localhost", "GET", "/api/v1/environments", "", []string{"Host", "localhost:" + port}, 200},
		{"base_url's host", "GET", "/api/v1/environments", "", []string{"Host", "deployq.test"}, 200},
		{"IPv6 loopback", "GET", "/healthz", "", []string{"Host", "[::1]:" + port}, 200},
		{"a typed address", "GET", "/api/v1/environments", "", []string{"Sec-Fetch-Site", "none"}, 200},
	}
	for _, c := range ok {
		if r := s.do(t, c.method, c.path, c.body, c.hdr...); r.status != c.status {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
	}
}

// A server with tokens answers to any name (it sits behind proxies), but
// still takes no change from a page of another site.
func TestTokenServerRefusesOtherSites(t *testing.T) {
	s := newServer(t, "true", map[string]string{"tok-alice-0123456789": "alice"})
	auth := []string{"Authorization", "Bearer tok-alice-0123456789"}
	if r := s.do(t, "GET", "/api/v1/environments", "", append(auth, "Host", "deployq.example.com")...); r.status != 200 {
		t.Fatalf("another name: %d %s", r.status, r.body)
	}
	r := s.do(t, "POST", "/api/v1/locks", `{"env":"production"}`, append(auth, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")...)
	if r.status != 403 {
		t.Fatalf("a change from another site: %d %s", r.status, r.body)
	}
}
