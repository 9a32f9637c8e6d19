package main_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/deployq/deployq/internal/queuetest"
)

// Full page loads one after another, in a real browser that keeps the
// pages gone by for back and forward, leave the server one event stream
// for the tab, and the next page loads at once. (Pages gone by that kept
// their streams took the browser's six connections to the server, and
// the next load waited up to a minute.)
func TestPageLoadsKeepOneEventStream(t *testing.T) {
	base, _ := webServer(t)
	b := newBrowser(t)
	b.signIn(t, base)
	pages := []struct{ hash, ready string }{
		{"#/", `document.getElementById("matrix")`},
		{"#/deploy-new/web/production", `document.querySelector("#d-env option")`},
		{"#/history/web/staging", `document.querySelector(".history")`},
	}
	for i := range 12 {
		p := pages[i%len(pages)]
		ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
		err := chromedp.Do(ctx, open(base, p.hash), poll(t, p.ready))
		cancel()
		if err != nil {
			t.Fatalf("load %d (%s) did not end within 15s: %v", i+1, p.hash, err)
		}
		queuetest.EventuallyWithin(t, 15*time.Second, fmt.Sprintf("one event stream for the tab after load %d", i+1),
			func() bool { return eventStreams(t, base) == 1 })
	}
	b.checkProblems(t)
}

var eventStreamsRe = regexp.MustCompile(`(?m)^deployq_http_streams\{kind="events"\} (\d+)$`)

// eventStreams is how many event streams the server holds open, as its
// metrics say.
func eventStreams(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := eventStreamsRe.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no deployq_http_streams in /metrics")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
