package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/deployq/deployq/internal/gittest"
	"github.com/deployq/deployq/internal/queuetest"
)

// The dashboard in a real browser: Debian's chromium, headless, driven by
// chromedp, against the real server (MustRunMain) on 127.0.0.1:0.

// browserRequiredEnv, set by make test, turns a missing chromium into a
// failure rather than a skip.
const browserRequiredEnv = "DEPLOYQ_BROWSER_REQUIRED"

func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv(browserRequiredEnv) != "" {
		t.Fatal("chromium is not installed (make test installs Debian's chromium)")
	}
	t.Skip("chromium is not installed (make test installs it)")
	return ""
}

// browser starts a headless chromium for one test; problems collects the
// page's console errors, exceptions and errors logged by the browser
// (a CSP violation among them).
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	problems []string
}

func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	b := &browser{ctx: ctx}
	// the first call starts the browser, on the context without a timeout
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				b.mu.Lock()
				b.problems = append(b.problems, string(m.Type)+": "+m.Text)
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) run(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// value runs one action that returns a value.
func value[T any](t *testing.T, b *browser, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var loads int

// open loads a page of the dashboard: a real navigation each time (a new
// query), never one within the document, whose end the browser may not
// report.
func open(base, hash string) chromedp.Action[chromedp.Void] {
	loads++
	return chromedp.Navigate(fmt.Sprintf("%s/?load=%d%s", base, loads, hash))
}

// poll waits until a JavaScript expression is true in the page.
// A navigation under way (a redirect, a sign-in, the load of the next
// page) ends the page's JavaScript context, and a wait begun in a page
// that is going away never ends: each look is short, and the wait goes
// on in the next page.
func poll(t *testing.T, expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		var err error
		queuetest.Eventually(t, expr+" in a page that stays", func() bool {
			_, err = chromedp.Poll[any](expr, chromedp.WithPollingTimeout(3*time.Second))(ctx, tg)
			return err == nil || ctx.Err() != nil
		})
		if err != nil {
			return chromedp.Void{}, fmt.Errorf("waiting for %s: %w", expr, err)
		}
		return chromedp.Void{}, nil
	}
}

// navigated says whether err is that of a page that went away.
func navigated(err error) bool {
	return strings.Contains(err.Error(), "Cannot find context") || strings.Contains(err.Error(), "navigated or closed")
}

func (b *browser) checkProblems(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.problems) > 0 {
		t.Errorf("the page had errors:\n%s", strings.Join(b.problems, "\n"))
	}
}

func apiCall(t *testing.T, base, token, method, path, body string, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b.String())
	}
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
}

const (
	webToken    = "alice-web-token-0123456789"
	webBobToken = "bob-web-token-0123456789"
)

// failSHA is the sha whose deploys to webServer's production fail.
var failSHA = strings.Repeat("b", 40)

// webServer runs deployq with one app: production deploys at once (but
// failSHA, which fails), staging prints a line, waits for a file, then
// prints a green one. It returns the server's URL and the file.
func webServer(t *testing.T) (string, string) {
	t.Helper()
	release := filepath.Join(t.TempDir(), "release")
	return runWeb(t, fmt.Sprintf(`  - name: web
    default_env: staging
    environments:
      - name: staging
        runner: shell
        shell: {command: "echo first line; while [ ! -e %s ]; do sleep 0.05; done; printf '\\033[32msecond line\\033[0m\\n'"}
      - name: production
        runner: shell
        shell: {command: "echo deployed {sha}; test {sha} != %s"}
`, release, failSHA)), release
}

// runWeb runs deployq with alice's and bob's API tokens (webToken,
// webBobToken) and apps, the YAML of its apps: list, and returns its URL.
func runWeb(t *testing.T, apps string) string {
	t.Helper()
	t.Setenv("WEB_TOKEN", webToken)
	t.Setenv("WEB_BOB_TOKEN", webBobToken)
	return MustRunMain(t, `server:
  api_tokens:
    - {name: alice, token: "${WEB_TOKEN}"}
    - {name: bob, token: "${WEB_BOB_TOKEN}"}
apps:
`+apps).URL
}

func (b *browser) signIn(t *testing.T, base string) {
	t.Helper()
	b.run(t, "sign in",
		open(base, "#/login"),
		poll(t, `document.getElementById("token")`),
		chromedp.SendKeys(chromedp.ID("#token"), webToken),
		chromedp.Click(chromedp.CSS(".login button[type=submit]")),
		poll(t, `document.getElementById("matrix")`),
		poll(t, `document.getElementById("who").textContent.includes("signed in as alice")`))
}

// TestDashboard runs the dashboard in a browser in Tokyo (UTC+9, no
// summer time): it says times in the browser's zone.
func TestDashboard(t *testing.T) {
	base, release := webServer(t)
	b := newBrowser(t, chromedp.Env("TZ=Asia/Tokyo"))
	b.signIn(t, base)
	sha := strings.Repeat("a", 40)
	var staged struct{ ID int64 }

	t.Run("the matrix shows a deploy that just ran", func(t *testing.T) {
		var d struct{ ID int64 }
		apiCall(t, base, webToken, "POST", "/api/v1/deploys", `{"app":"web","env":"production","ref":"`+sha+`"}`, &d)
		b.run(t, "matrix", poll(t, `document.querySelector('td[data-app=web][data-env=production] .version')?.textContent.includes("aaaaaaa")`))
		text := value(t, b, chromedp.Text(chromedp.CSS(`td[data-app=web][data-env=production]`)))
		if !strings.Contains(text, "alice") || !strings.Contains(text, "ago") {
			t.Errorf("cell %q", text)
		}
	})

	t.Run("the log of a running deploy appears live", func(t *testing.T) {
		apiCall(t, base, webToken, "POST", "/api/v1/deploys", `{"app":"web","env":"staging","ref":"`+sha+`"}`, &staged)
		b.run(t, "deploy page",
			open(base, fmt.Sprintf("#/deploy/%d", staged.ID)),
			poll(t, `document.getElementById("log")?.textContent.includes("first line")`),
			func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
				_, err := chromedp.Evaluate[bool](`window.stayed = true`)(ctx, tg)
				return chromedp.Void{}, err
			},
			poll(t, `document.querySelector("#dhead .badge")?.textContent === "running"`),
			// the shell runner says its phase, never how far it is: no bar
			poll(t, `document.querySelector("#dhead .progress .ptext")?.textContent.trim() === "run"`))
		if bar := value(t, b, chromedp.Evaluate[bool](`!!document.querySelector("#dhead .progress .bar")`)); bar {
			t.Error("a progress bar for a runner that reports no progress")
		}
		os.WriteFile(release, nil, 0o644)
		b.run(t, "the rest of the log",
			poll(t, `document.querySelector("#log .a-fg32")?.textContent === "second line"`),
			poll(t, `document.querySelector("#dhead .badge")?.textContent === "succeeded"`))
		if stayed := value(t, b, chromedp.Evaluate[bool](`window.stayed === true`)); !stayed {
			t.Error("the page reloaded")
		}
	})

	t.Run("a cell shows what runs without an empty bar, and its last deploy only when it did not succeed", func(t *testing.T) {
		os.Remove(release)
		var held, failed struct{ ID int64 }
		apiCall(t, base, webToken, "POST", "/api/v1/deploys", `{"app":"web","env":"staging","ref":"`+sha+`"}`, &held)
		apiCall(t, base, webToken, "POST", "/api/v1/deploys", `{"app":"web","env":"production","ref":"`+failSHA+`"}`, &failed)
		staging := `document.querySelector("td[data-app=web][data-env=staging]")`
		b.run(t, "the matrix",
			open(base, "#/"),
			poll(t, staging+`.querySelector(".running .ptext")?.textContent.trim() === "run"`),
			poll(t, `document.querySelector("#queue .qlist .ptext")?.textContent.trim() === "run"`),
			poll(t, fmt.Sprintf(`document.querySelector("td[data-app=web][data-env=production] .last")?.textContent === "last: #%d failed"`, failed.ID)))
		if bar := value(t, b, chromedp.Evaluate[bool](`!!document.querySelector("#matrix .bar, #queue .bar")`)); bar {
			t.Error("a progress bar in the matrix or the queue for a runner that reports no progress")
		}
		if last := value(t, b, chromedp.Evaluate[bool](`!!`+staging+`.querySelector(".last")`)); last {
			t.Errorf("the running deploy is shown as the last one too: %q", textOf(t, b, `td[data-app=web][data-env=staging]`))
		}
		os.WriteFile(release, nil, 0o644)
		b.run(t, "the deploy ended", poll(t, staging+`.textContent.includes("aaaaaaa") && !`+staging+`.querySelector(".running, .last")`))
	})

	t.Run("a lock taken on the page shows in the matrix and the API", func(t *testing.T) {
		b.run(t, "lock",
			open(base, "#/"),
			poll(t, `document.querySelector("td[data-app=web][data-env=production] .lock-btn")`),
			chromedp.Click(chromedp.CSS(`td[data-app=web][data-env=production] .lock-btn`)),
			poll(t, `document.querySelector("td[data-app=web][data-env=production] input[name=reason]")`),
			chromedp.SendKeys(chromedp.CSS(`td[data-app=web][data-env=production] input[name=reason]`), "db migration"),
			chromedp.SendKeys(chromedp.CSS(`td[data-app=web][data-env=production] input[name=ttl]`), "2h"),
			chromedp.Click(chromedp.CSS(`td[data-app=web][data-env=production] .lockform button[type=submit]`)),
			poll(t, `document.querySelector('td[data-app=web][data-env=production] .lock')?.textContent.includes("by alice: db migration")`))
		var locks []struct{ Env, App, Owner, Reason string }
		apiCall(t, base, webToken, "GET", "/api/v1/locks", "", &locks)
		if len(locks) != 1 || locks[0].Env != "production" || locks[0].App != "web" || locks[0].Owner != "alice" || locks[0].Reason != "db migration" {
			t.Fatalf("locks %+v", locks)
		}
	})

	t.Run("times are 24-hour, in the browser's zone, with its name", func(t *testing.T) {
		tokyo := time.FixedZone("GMT+9", 9*3600)
		say := func(at time.Time) string { return at.In(tokyo).Format("2006-01-02 15:04:05 MST") }
		var locks []struct {
			ExpiresAt time.Time `json:"expires_at"`
		}
		apiCall(t, base, webToken, "GET", "/api/v1/locks", "", &locks)
		b.run(t, "the lock's expiry", open(base, "#/"),
			poll(t, `document.querySelector("td[data-app=web][data-env=production] .lock .meta")`))
		if meta := textOf(t, b, `td[data-app=web][data-env=production] .lock .meta`); !strings.HasSuffix(meta, "expires "+say(locks[0].ExpiresAt)) {
			t.Errorf("lock: %q, want it to expire at %s", meta, say(locks[0].ExpiresAt))
		}
		var d struct {
			CreatedAt  time.Time `json:"created_at"`
			StartedAt  time.Time `json:"started_at"`
			FinishedAt time.Time `json:"finished_at"`
		}
		apiCall(t, base, webToken, "GET", fmt.Sprintf("/api/v1/deploys/%d", staged.ID), "", &d)
		b.run(t, "a deploy's times", open(base, fmt.Sprintf("#/deploy/%d", staged.ID)),
			poll(t, `document.querySelector("#log .a-fg32") && document.querySelector("#dhead .badge")?.textContent === "succeeded"`))
		facts := textOf(t, b, `#dhead .facts`)
		for _, at := range []time.Time{d.CreatedAt, d.StartedAt, d.FinishedAt} {
			if !strings.Contains(facts, say(at)) {
				t.Errorf("the deploy's facts lack %s:\n%s", say(at), facts)
			}
		}
		first := textOf(t, b, `#log .t`)
		if zone := textOf(t, b, `#logzone`); zone != "times in GMT+9" || !regexp.MustCompile(`^\d\d:\d\d:\d\d$`).MatchString(first) {
			t.Errorf("log times %q, %q", zone, first)
		}
		if page := textOf(t, b, `main`); regexp.MustCompile(`\d [AP]M\b`).MatchString(page) {
			t.Errorf("a 12-hour time:\n%s", page)
		}
	})

	t.Run("the deploy form shows the lock and the freeze before deploying", func(t *testing.T) {
		hold := func(app, env string) string {
			t.Helper()
			b.run(t, "the deploy form", open(base, "#/deploy-new/"+app+"/"+env), poll(t, `document.querySelector("#d-env option")`))
			return textOf(t, b, `#d-hold`)
		}
		if got := hold("web", "production"); !strings.HasPrefix(got, "Locked: web in production by alice: db migration") ||
			!strings.HasSuffix(got, "Your lock: your deploys go through.") {
			t.Errorf("production: %q", got)
		}
		if got := hold("web", "staging"); got != "" {
			t.Errorf("staging, neither locked nor frozen: %q", got)
		}
		// a lock taken meanwhile shows at once, and so does its end
		apiCall(t, base, webBobToken, "POST", "/api/v1/locks", `{"env":"staging","reason":"load test","ttl":"1h"}`, nil)
		b.run(t, "bob's lock", poll(t, `document.getElementById("d-hold").textContent.includes("Locked: staging by bob: load test")`),
			poll(t, `document.getElementById("d-hold").textContent.includes("Deploys here are refused until bob unlocks it or it expires.")`))
		apiCall(t, base, webBobToken, "DELETE", "/api/v1/locks/staging", "", nil)
		b.run(t, "bob's lock gone", poll(t, `document.getElementById("d-hold").textContent === ""`))
		// choosing another environment shows what holds that one
		b.run(t, "another environment",
			script(`const s = document.getElementById("d-env"); s.value = "production"; s.dispatchEvent(new Event("change"))`),
			poll(t, `document.getElementById("d-hold").textContent.includes("by alice: db migration")`))
		apiCall(t, base, webToken, "POST", "/api/v1/freezes", `{"env":"staging","reason":"release week","ttl":"1h"}`, nil)
		t.Cleanup(func() { apiCall(t, base, webToken, "DELETE", "/api/v1/freezes/staging", "", nil) })
		if got := hold("web", "staging"); !strings.HasPrefix(got, "Frozen: staging is frozen until ") || !strings.Contains(got, "release week") {
			t.Errorf("a frozen staging: %q", got)
		}
	})
	b.checkProblems(t)

	t.Run("every page renders without errors, at 1280px and 390px", func(t *testing.T) {
		screenshots(t)
	})
}

// textOf is the text of the first element that selector finds, read at
// once: the page may render it again at any time.
func textOf(t *testing.T, b *browser, selector string) string {
	t.Helper()
	return value(t, b, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q)?.textContent ?? ""`, selector)))
}

// script runs JavaScript statements in the page.
func script(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool]("(() => { "+js+"; return true })()")(ctx, tg)
		return err
	})
}

// demoScript is a deploy script like the demo's, without its pauses: it
// holds at its switch step while the file $HOLD exists, and a version
// whose VERSION file says "broken" fails its checks.
const demoScript = `#!/bin/sh
set -e
env="$1"; sha="$2"
echo "deploying $DEPLOY_APP $(echo "$sha" | cut -c1-7) ($DEPLOY_REF) to $env for $DEPLOY_USER"
for step in fetch build migrate switch verify; do
	echo "==> $step"
	while [ "$step" = switch ] && [ -n "$HOLD" ] && [ -e "$HOLD" ]; do sleep 0.05; done
	if [ "$step" = verify ] && grep -q broken VERSION; then echo "    health check: 503 from /healthz" >&2; exit 1; fi
	echo "    $step ok"
done
echo "$DEPLOY_APP $(head -1 VERSION) is live in $env"
`

// demoLike runs deployq as the demo does, on real repositories: web at
// v1.0.0, v1.1.0, v1.2.0 and a fix on main; api at v2.3.0 and a broken
// v2.4.0. Deploys of web to staging hold at their switch step while the
// file it returns exists.
func demoLike(t *testing.T) (string, string) {
	t.Helper()
	hold := filepath.Join(t.TempDir(), "hold")
	web, api := gittest.New(t), gittest.New(t)
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		web.Commit("web "+v, map[string]string{"deploy.sh": demoScript, "VERSION": v + "\n"})
		web.Tag("v"+v, "")
	}
	web.Commit("Fix the login redirect", map[string]string{"VERSION": "1.2.1-dev\n"})
	api.Commit("api 2.3.0", map[string]string{"deploy.sh": demoScript, "VERSION": "2.3.0\n"})
	api.Tag("v2.3.0", "")
	api.Commit("api 2.4.0", map[string]string{"VERSION": "2.4.0\nbroken: the new pool size\n"})
	api.Tag("v2.4.0", "")
	t.Setenv("WEB_TOKEN", webToken)
	t.Setenv("WEB_BOB_TOKEN", webBobToken)
	env := func(name, extra string) string {
		return fmt.Sprintf(`
      - name: %s
        runner: shell
        shell: {command: "./deploy.sh {env} {sha}", checkout: true%s}`, name, extra)
	}
	m := MustRunMain(t, fmt.Sprintf(`server:
  max_parallel: 4
  api_tokens:
    - {name: alice, token: "${WEB_TOKEN}"}
    - {name: bob, token: "${WEB_BOB_TOKEN}"}
apps:
  - name: web
    repo: acme/web
    git: %q
    default_ref: main
    default_env: staging
    environments:%s%s
  - name: api
    repo: acme/api
    git: %q
    default_ref: main
    default_env: staging
    environments:%s%s
`, web.Bare, env("staging", fmt.Sprintf(", env: {HOLD: %q}", hold)), env("production", ""),
		api.Bare, env("staging", ""), env("production", "")))
	return m.URL, hold
}

// screenshots takes the README's screenshots (make screenshots keeps
// them) from a demo-like run, seen in UTC: what ran, a failure, a
// deploy running and one queued behind it, a lock.
func screenshots(t *testing.T) {
	out := os.Getenv("DEPLOYQ_SCREENSHOTS") // make screenshots writes docs/screenshots
	if out == "" {
		out = t.TempDir()
	}
	base, hold := demoLike(t)
	deploy := func(token, app, ref, env, want string) int64 {
		t.Helper()
		var d struct{ ID int64 }
		apiCall(t, base, token, "POST", "/api/v1/deploys", fmt.Sprintf(`{"app":%q,"env":%q,"ref":%q}`, app, env, ref), &d)
		if want != "" {
			queuetest.Eventually(t, fmt.Sprintf("#%d %s", d.ID, want), func() bool {
				var got struct{ State string }
				apiCall(t, base, token, "GET", fmt.Sprintf("/api/v1/deploys/%d", d.ID), "", &got)
				return got.State == want
			})
		}
		return d.ID
	}
	deploy(webToken, "web", "v1.0.0", "production", "succeeded")
	deploy(webToken, "web", "v1.1.0", "staging", "succeeded")
	deploy(webBobToken, "web", "v1.1.0", "production", "succeeded")
	deploy(webBobToken, "api", "v2.3.0", "staging", "succeeded")
	deploy(webBobToken, "api", "v2.4.0", "staging", "failed")
	os.WriteFile(hold, nil, 0o644)
	t.Cleanup(func() { os.Remove(hold) })
	running := deploy(webToken, "web", "v1.2.0", "staging", "running")
	deploy(webBobToken, "web", "main", "staging", "queued")
	apiCall(t, base, webBobToken, "POST", "/api/v1/locks", `{"env":"production","app":"web","reason":"release train","ttl":"2h"}`, nil)

	b := newBrowser(t, chromedp.Env("TZ=UTC"))
	b.signIn(t, base)
	pages := []struct {
		name, hash string
		ready      []chromedp.Action[chromedp.Void]
	}{
		{"environments", "#/", []chromedp.Action[chromedp.Void]{
			poll(t, `document.querySelector("#queue .qlist") && document.querySelector("td[data-app=api][data-env=staging] .last")`)}},
		{"deploy", fmt.Sprintf("#/deploy/%d", running), []chromedp.Action[chromedp.Void]{
			poll(t, `document.getElementById("log")?.textContent.includes("==> switch")`)}},
		{"history", "#/history/web/production", []chromedp.Action[chromedp.Void]{
			poll(t, `document.querySelectorAll(".history tbody input[type=checkbox]").length === 2`),
			script(`document.querySelectorAll(".history tbody input[type=checkbox]").forEach((c) => c.click())`),
			poll(t, `document.querySelector("#diff a")`)}},
		{"deploy-form", "#/deploy-new/web/production", []chromedp.Action[chromedp.Void]{
			poll(t, `document.querySelector("#d-hold .lock")`),
			chromedp.Click(chromedp.ID("#d-preview")),
			poll(t, `document.getElementById("preview").textContent.includes("→")`)}},
	}
	for _, w := range []struct {
		name string
		w, h int64
	}{{"1280", 1280, 900}, {"390", 390, 844}} {
		for _, p := range pages {
			b.run(t, p.name+" at "+w.name, append([]chromedp.Action[chromedp.Void]{chromedp.EmulateViewport(w.w, w.h), open(base, p.hash)}, p.ready...)...)
			img := value(t, b, chromedp.CaptureScreenshot())
			if _, err := png.Decode(bytes.NewReader(img)); err != nil {
				t.Fatalf("%s: not a PNG: %v", p.name, err)
			}
			os.WriteFile(filepath.Join(out, fmt.Sprintf("%s-%s.png", p.name, w.name)), img, 0o644)
		}
	}
	b.checkProblems(t)
}

// Signing in with GitHub: deployq sends the browser to GitHub's authorize
// page, exchanges the code, reads the login and asks GitHub whether it is
// in a team the config lets in; the user is the person the config maps
// the login to, for the same deployers and lockers rules. GitHub is faked
// here: its OAuth endpoints as RFC 6749 defines them, and its API
// answering real examples of GitHub's API.
func TestGitHubSignIn(t *testing.T) {
	gh := newFakeGitHubOAuth(t)
	t.Setenv("CI_TOKEN", "ci-token-0123456789abcdef")
	t.Setenv("OAUTH_SECRET", "oauth-secret-0123456789")
	m := MustRunMain(t, fmt.Sprintf(`server:
  api_tokens:
    - {name: ci, token: "${CI_TOKEN}"}
  github_oauth: %s
people:
  - {name: mona, github: [%s]}
apps:
  - name: web
    environments:
      - name: production
        runner: shell
        shell: {command: "true"}
        lockers: [mona]
`, gh.config("{teams: [github/justice-league]}"), gh.login))
	b := newBrowser(t)
	b.run(t, "sign in with GitHub",
		open(m.URL, "#/login"),
		poll(t, `document.querySelector('a[href="/ui/auth/github"]')`),
		chromedp.Click(chromedp.CSS(`a[href="/ui/auth/github"]`)),
		poll(t, `document.getElementById("matrix")`),
		poll(t, `document.getElementById("who").textContent.includes("signed in as mona")`))
	// the person is the user: they may lock, as the lockers rule says
	b.run(t, "lock as the GitHub user",
		chromedp.Click(chromedp.CSS(`td[data-app=web][data-env=production] .lock-btn`)),
		chromedp.SendKeys(chromedp.CSS(`td[data-app=web][data-env=production] input[name=reason]`), "from GitHub"),
		chromedp.Click(chromedp.CSS(`td[data-app=web][data-env=production] .lockform button[type=submit]`)),
		poll(t, `document.querySelector('td[data-app=web][data-env=production] .lock')?.textContent.includes("by mona: from GitHub")`))
	if gh.exchanges() != 1 {
		t.Errorf("%d code exchanges", gh.exchanges())
	}
	b.checkProblems(t)
}
