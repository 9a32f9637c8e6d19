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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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

const webToken = "alice-web-token-0123456789"

// webServer runs deployq with one app: production deploys at once,
// staging prints a line, waits for a file, then prints a green one. It
// returns the server's URL and the file.
func webServer(t *testing.T) (string, string) {
	t.Helper()
	release := filepath.Join(t.TempDir(), "release")
	t.Setenv("WEB_TOKEN", webToken)
	m := MustRunMain(t, fmt.Sprintf(`server:
  api_tokens:
    - {name: alice, token: "${WEB_TOKEN}"}
apps:
  - name: web
    default_env: staging
    environments:
      - name: staging
        runner: shell
        shell: {command: "echo first line; while [ ! -e %s ]; do sleep 0.05; done; printf '\\033[32msecond line\\033[0m\\n'"}
      - name: production
        runner: shell
        shell: {command: "echo deployed {sha}"}
`, release))
	return m.URL, release
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

func TestDashboard(t *testing.T) {
	base, release := webServer(t)
	b := newBrowser(t)
	b.signIn(t, base)
	sha := strings.Repeat("a", 40)

	t.Run("the matrix shows a deploy that just ran", func(t *testing.T) {
		var d struct{ ID int64 }
		apiCall(t, base, webToken, "POST", "/api/v1/deploys", `{"app":"web","env":"production","ref":"`+sha+`"}`, &d)
		b.run(t, "matrix", poll(t, `(document.querySelector('td[data-app=web][data-env=production]')||{}).textContent?.includes("aaaaaaa")`))
		text := value(t, b, chromedp.Text(chromedp.CSS(`td[data-app=web][data-env=production]`)))
		if !strings.Contains(text, "alice") || !strings.Contains(text, "ago") {
			t.Errorf("cell %q", text)
		}
	})

	t.Run("the log of a running deploy appears live", func(t *testing.T) {
		var d struct{ ID int64 }
		apiCall(t, base, webToken, "POST", "/api/v1/deploys", `{"app":"web","env":"staging","ref":"`+sha+`"}`, &d)
		b.run(t, "deploy page",
			open(base, fmt.Sprintf("#/deploy/%d", d.ID)),
			poll(t, `document.getElementById("log")?.textContent.includes("first line")`),
			func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
				_, err := chromedp.Evaluate[bool](`window.stayed = true`)(ctx, tg)
				return chromedp.Void{}, err
			},
			poll(t, `document.querySelector("#dhead .badge")?.textContent === "running"`))
		os.WriteFile(release, nil, 0o644)
		b.run(t, "the rest of the log",
			poll(t, `document.querySelector("#log .a-fg32")?.textContent === "second line"`),
			poll(t, `document.querySelector("#dhead .badge")?.textContent === "succeeded"`))
		if stayed := value(t, b, chromedp.Evaluate[bool](`window.stayed === true`)); !stayed {
			t.Error("the page reloaded")
		}
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

	t.Run("every page renders without errors, at 1280px and 390px", func(t *testing.T) {
		out := os.Getenv("DEPLOYQ_SCREENSHOTS") // make screenshots writes docs/screenshots
		if out == "" {
			out = t.TempDir()
		}
		pages := []struct{ name, hash, ready string }{
			{"environments", "#/", `document.getElementById("matrix") && document.getElementById("queue")`},
			{"deploy", "#/deploy/2", `document.getElementById("log")?.textContent.includes("second line")`},
			{"history", "#/history/web/staging", `document.querySelector(".history tbody tr")`},
			{"deploy-form", "#/deploy-new/web/production", `document.querySelector("#d-env option")`},
		}
		for _, w := range []struct {
			name string
			w, h int64
		}{{"1280", 1280, 900}, {"390", 390, 844}} {
			for _, p := range pages {
				b.run(t, p.name+" at "+w.name,
					chromedp.EmulateViewport(w.w, w.h),
					open(base, p.hash),
					poll(t, p.ready))
				img := value(t, b, chromedp.CaptureScreenshot())
				if _, err := png.Decode(bytes.NewReader(img)); err != nil {
					t.Fatalf("%s: not a PNG: %v", p.name, err)
				}
				os.WriteFile(filepath.Join(out, fmt.Sprintf("%s-%s.png", p.name, w.name)), img, 0o644)
			}
		}
		b.checkProblems(t)
	})
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
