package main_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/deployq/deployq/internal/queuetest"
)

// countingProxy stands between the browser and the server and counts the
// GET requests by path: what the dashboard fetches again.
type countingProxy struct {
	url string
	mu  sync.Mutex
	n   map[string]int
}

func newCountingProxy(t *testing.T, base string) *countingProxy {
	t.Helper()
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{n: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(target) // streams server-sent events as they come
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			p.mu.Lock()
			p.n[r.URL.Path]++
			p.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	p.url = ts.URL
	return p
}

// gets returns how many GETs of path came, and forgets them.
func (p *countingProxy) gets(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.n[path]
	delete(p.n, path)
	return n
}

// gatedServer runs deployq with one app: production deploys at once,
// staging runs until a file named by the deploy's sha is made in the
// directory it returns.
func gatedServer(t *testing.T) (string, string) {
	t.Helper()
	gates := t.TempDir()
	return runWeb(t, fmt.Sprintf(`  - name: web
    environments:
      - name: staging
        runner: shell
        shell: {command: "while [ ! -e %s/{sha} ]; do sleep 0.05; done; echo done"}
      - name: production
        runner: shell
        shell: {command: "echo deployed {sha}"}
`, gates)), gates
}

// TestDashboardUpdatesInPlace: while deploys run and locks change, the
// matrix, the queue and a deploy's page show it from the events alone:
// after the page loaded, the dashboard fetches neither the environments,
// nor the queue, nor the deploy again; a resync fetches them once.
func TestDashboardUpdatesInPlace(t *testing.T) {
	server, gates := gatedServer(t)
	p := newCountingProxy(t, server)
	b := newBrowser(t)
	b.signIn(t, p.url)
	sha, next := strings.Repeat("a", 40), strings.Repeat("b", 40)
	prod, staging := `document.querySelector("td[data-app=web][data-env=production]")`, `document.querySelector("td[data-app=web][data-env=staging]")`
	b.run(t, "the matrix", open(p.url, "#/"), poll(t, prod+`?.textContent.includes("never deployed")`),
		poll(t, `Number(document.querySelector("#queue")?.dataset.loaded) >= 1`)) // both of the page's first fetches answered
	p.gets("/api/v1/environments")
	p.gets("/api/v1/deploys")
	refetched := func(what string) {
		t.Helper()
		if n := p.gets("/api/v1/environments") + p.gets("/api/v1/deploys"); n != 0 {
			t.Errorf("%s: the page fetched the environments or the queue again (%d)", what, n)
		}
	}

	var d struct{ ID int64 }
	apiCall(t, server, webToken, "POST", "/api/v1/deploys", `{"app":"web","env":"production","ref":"`+sha+`"}`, &d)
	b.run(t, "a deploy that ran", poll(t, prod+`.querySelector(".version")?.textContent.includes("aaaaaaa")`))
	refetched("a deploy")

	var held, behind struct{ ID int64 }
	apiCall(t, server, webToken, "POST", "/api/v1/deploys", `{"app":"web","env":"staging","ref":"`+sha+`"}`, &held)
	apiCall(t, server, webBobToken, "POST", "/api/v1/deploys", `{"app":"web","env":"staging","ref":"`+next+`"}`, &behind)
	b.run(t, "a running deploy and one queued behind it",
		poll(t, fmt.Sprintf(`%s.querySelector(".running")?.textContent.startsWith("#%d deploying")`, staging, held.ID)),
		poll(t, staging+`.querySelector(".qlen")?.textContent === "1 queued"`),
		poll(t, fmt.Sprintf(`[...document.querySelectorAll("#queue li")].map((li) => li.textContent.split(" ").slice(0, 2).join(" ")).join(",") === "running #%d,queued #%d"`, held.ID, behind.ID)))
	refetched("deploys that run and wait")

	apiCall(t, server, webBobToken, "POST", "/api/v1/locks", `{"env":"production","reason":"db migration"}`, nil)
	b.run(t, "a lock", poll(t, prod+`.querySelector(".lock")?.textContent.includes("production by bob: db migration")`))
	apiCall(t, server, webBobToken, "DELETE", "/api/v1/locks/production", "", nil)
	b.run(t, "an unlock", poll(t, `!`+prod+`.querySelector(".lock") && `+prod+`.querySelector(".lock-btn")`))
	refetched("a lock and an unlock")

	b.run(t, "the page of the deploy queued behind", open(p.url, fmt.Sprintf("#/deploy/%d", behind.ID)),
		poll(t, `document.querySelector("#dhead .badge")?.textContent === "queued"`))
	page := fmt.Sprintf("/api/v1/deploys/%d", behind.ID)
	p.gets(page)
	os.WriteFile(filepath.Join(gates, sha), nil, 0o644)
	b.run(t, "it runs", poll(t, `document.querySelector("#dhead .badge")?.textContent === "running"`))
	if n := p.gets(page); n != 0 {
		t.Errorf("the deploy's page fetched the deploy %d times to show it running", n)
	}
	os.WriteFile(filepath.Join(gates, next), nil, 0o644)
	b.run(t, "it ended", poll(t, `document.querySelector("#dhead .badge")?.textContent === "succeeded"`))

	p.gets("/api/v1/environments")
	b.run(t, "the matrix again", open(p.url, "#/"), poll(t, staging+`.textContent.includes("bbbbbbb") && !`+staging+`.querySelector(".running, .qlen")`),
		poll(t, `document.querySelector("#queue").textContent.includes("Nothing queued or running.")`))
	if n := p.gets("/api/v1/environments"); n != 1 {
		t.Errorf("a page load fetched the environments %d times", n)
	}
	p.gets("/api/v1/deploys")
	b.run(t, "a resync", script(`state.events.dispatchEvent(new MessageEvent("resync", {data: '{"missed":1}'}))`))
	envs, queue := 0, 0
	queuetest.Eventually(t, "the environments and the queue fetched again", func() bool {
		envs, queue = envs+p.gets("/api/v1/environments"), queue+p.gets("/api/v1/deploys")
		return envs > 0 && queue > 0
	})
	b.run(t, "the matrix after it", poll(t, staging+`.textContent.includes("bbbbbbb")`))
	if envs += p.gets("/api/v1/environments"); envs != 1 {
		t.Errorf("a resync fetched the environments %d times", envs)
	}
	b.checkProblems(t)
}

// The matrix at 1,000 lanes: 200 apps in 5 environments.
var scaleEnvs = []string{"dev", "test", "staging", "canary", "production"}

func scaleServer(t *testing.T) string {
	t.Helper()
	var cfg strings.Builder
	for a := range 200 {
		fmt.Fprintf(&cfg, "  - name: app%03d\n    environments:\n", a)
		for _, e := range scaleEnvs {
			fmt.Fprintf(&cfg, "      - {name: %s, runner: shell, shell: {command: \"true\"}}\n", e)
		}
	}
	return runWeb(t, cfg.String())
}

// TestMatrixAtScale: at 1,000 lanes the matrix shows 50 apps a page,
// finds an app by its name, and applies the events of apps on other
// pages, so that they show when their page does, without fetching the
// environments again. It logs how long the matrix took to draw.
func TestMatrixAtScale(t *testing.T) {
	server := scaleServer(t)
	p := newCountingProxy(t, server)
	b := newBrowser(t)
	b.signIn(t, p.url)
	// how long the matrix takes to draw, and to show a change: medians
	var draws, changes []float64
	for i := range 5 {
		b.run(t, "the matrix", open(p.url, "#/"),
			poll(t, `document.getElementById("matrix")?.offsetHeight > 0 && (window.drawnAt ??= performance.now())`),
			script(`state.events.addEventListener("lock", () => { window.lockedAt ??= performance.now() })`))
		apiCall(t, server, webToken, "POST", "/api/v1/locks", fmt.Sprintf(`{"env":"dev","app":"app%03d","reason":"measure"}`, i), nil)
		b.run(t, "the lock shown", poll(t, fmt.Sprintf(`document.querySelector("td[data-app=app%03d][data-env=dev] .lock") && (window.shownAt ??= performance.now())`, i)))
		draws = append(draws, value(t, b, chromedp.Evaluate[float64](`window.drawnAt - performance.getEntriesByType("resource").find((r) => r.name.includes("/api/v1/environments")).responseEnd`)))
		changes = append(changes, value(t, b, chromedp.Evaluate[float64](`window.shownAt - window.lockedAt`)))
	}
	slices.Sort(draws)
	slices.Sort(changes)
	t.Logf("at 1,000 lanes the matrix was drawn %.0f ms after the environments came (median of %v), and showed a lock %.0f ms after its event (%v)",
		draws[2], draws, changes[2], changes)
	p.gets("/api/v1/environments")

	rows := `[...document.querySelectorAll("#matrix tbody th")].map((th) => th.textContent)`
	b.run(t, "the first page", poll(t, rows+`.join() === Array.from({length: 50}, (_, i) => "app" + String(i).padStart(3, "0")).join()`),
		poll(t, `document.getElementById("m-pager").textContent.includes("apps 1–50 of 200")`))
	b.run(t, "an app found by its name", chromedp.SendKeys(chromedp.ID("#m-filter"), "app123"),
		poll(t, rows+`.join() === "app123"`))

	// a deploy and a lock of apps the page does not show
	var d struct{ ID int64 }
	apiCall(t, server, webToken, "POST", "/api/v1/deploys", `{"app":"app150","env":"dev","ref":"`+strings.Repeat("c", 40)+`"}`, &d)
	queuetest.Eventually(t, "the deploy ended", func() bool {
		var got struct{ State string }
		apiCall(t, server, webToken, "GET", fmt.Sprintf("/api/v1/deploys/%d", d.ID), "", &got)
		return got.State == "succeeded"
	})
	apiCall(t, server, webBobToken, "POST", "/api/v1/locks", `{"env":"production","reason":"release train"}`, nil)
	b.run(t, "the lock shows on the page shown", poll(t, `document.querySelector("td[data-app=app123][data-env=production] .lock")?.textContent.includes("production by bob")`))
	b.run(t, "the fourth page",
		script(`const f = document.getElementById("m-filter"); f.value = ""; f.dispatchEvent(new Event("input"))`),
		poll(t, rows+`.length === 50`),
		chromedp.Click(chromedp.ID("#m-next")), chromedp.Click(chromedp.ID("#m-next")), chromedp.Click(chromedp.ID("#m-next")),
		poll(t, rows+`[0] === "app150" && `+rows+`.length === 50`),
		poll(t, `document.querySelector("td[data-app=app150][data-env=dev]").textContent.includes("ccccccc")`),
		poll(t, `[...document.querySelectorAll("td[data-env=production]")].every((td) => td.querySelector(".lock"))`))
	if n := p.gets("/api/v1/environments"); n != 0 {
		t.Errorf("the environments were fetched %d times more", n)
	}
	b.checkProblems(t)
}
