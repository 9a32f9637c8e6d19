package main_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// A page of another site, in a real browser, cannot make an open server
// deploy or lock: not with fetch in no-cors mode, which needs no leave
// from the server, nor by a name of its own that resolves to 127.0.0.1
// (DNS rebinding). The browser resolves evil.test to 127.0.0.1.
func TestOtherSitesCannotDriveAnOpenServer(t *testing.T) {
	m := MustRunMain(t, `apps:
  - name: web
    environments:
      - name: production
        runner: shell
        shell: {command: "echo deployed"}
`)
	target, _ := url.Parse(m.URL)
	deploy := `{"app":"web","env":"production","ref":"` + strings.Repeat("e", 40) + `"}`
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>cute cats</title><script>
const base = %q;
Promise.allSettled([
  fetch(base + "/api/v1/deploys", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: %q}),
  fetch(base + "/api/v1/deploys", {method: "POST", mode: "no-cors", headers: {"Content-Type": "application/json"}, body: %q}),
  fetch(base + "/api/v1/locks", {method: "POST", mode: "no-cors", body: JSON.stringify({env: "production", reason: "owned"})}),
]).then(() => { document.title = "done"; });
</script>`, m.URL, deploy, deploy)
	}))
	t.Cleanup(evil.Close)
	evilURL, _ := url.Parse(evil.URL)

	b := newBrowser(t, chromedp.Flag("host-resolver-rules", "MAP evil.test 127.0.0.1"))
	b.run(t, "a page of another site",
		chromedp.Navigate("http://evil.test:"+evilURL.Port()+"/"),
		poll(t, `document.title === "done"`))
	var deploys, locks []map[string]any
	apiCall(t, m.URL, "", "GET", "/api/v1/deploys", "", &deploys)
	apiCall(t, m.URL, "", "GET", "/api/v1/locks", "", &locks)
	if len(deploys) != 0 || len(locks) != 0 {
		t.Fatalf("the page of another site made deploys %v, locks %v", deploys, locks)
	}

	b.run(t, "deployq under another name",
		chromedp.Navigate("http://evil.test:"+target.Port()+"/api/v1/environments"),
		poll(t, `document.body && document.body.innerText.length > 0`))
	text := value(t, b, chromedp.Evaluate[string](`document.body.innerText`))
	if !strings.Contains(text, "forbidden") || strings.Contains(text, `"app"`) {
		t.Fatalf("deployq answered under another name:\n%s", text)
	}
}
