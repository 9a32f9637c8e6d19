package main_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
)

// Peers that stop half-way hold nothing for long: a body that stops
// arriving is cut, bodies of unknown senders are read a few at a time, a
// body larger than the API takes is refused before it is read, followers
// are counted, and one that stops reading is cut. Each test is the attack
// itself, on the real server, with raw connections.

// webhookServer runs deployq with GitHub's webhooks and server settings.
func webhookServer(t *testing.T, server string) string {
	t.Helper()
	return MustRunMain(t, "server:\n"+server+`github:
  webhook_secret: "`+strings.Repeat("s", 32)+`"
apps:
  - name: web
    environments:
      - {name: staging, runner: shell, shell: {command: "true"}}
`).URL
}

// rawConn dials the server, closed when the test ends.
func rawConn(t *testing.T, base string) net.Conn {
	t.Helper()
	u, _ := url.Parse(base)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sendHead writes a request's head declaring a body of length bytes.
func sendHead(t *testing.T, c net.Conn, method, path string, length int, hdr ...string) {
	t.Helper()
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", method, path, c.RemoteAddr(), length)
	for _, h := range hdr {
		head += h + "\r\n"
	}
	if _, err := io.WriteString(c, head+"\r\n"); err != nil {
		t.Fatal(err)
	}
}

// readAnswer reads the answer to a request sent on c, waiting at most
// queuetest.Patience.
func readAnswer(t *testing.T, c net.Conn) (*http.Response, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(queuetest.Patience))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// A webhook body that stops arriving (4 MiB of a declared 5 MiB) is cut
// after body_timeout: the connection is closed, and the server holds
// neither it nor what was sent.
func TestStalledBodyIsCut(t *testing.T) {
	base := webhookServer(t, "  body_timeout: 1s\n")
	c := rawConn(t, base)
	sendHead(t, c, "POST", "/webhooks/github", 5<<20, "X-GitHub-Event: push", "X-GitHub-Delivery: stalled-1")
	if _, err := c.Write(make([]byte, 4<<20)); err != nil {
		t.Fatal(err)
	}
	stalled := time.Now()
	c.SetReadDeadline(time.Now().Add(queuetest.Patience))
	_, err := io.Copy(io.Discard, c) // until the server closes the connection
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a stalled body still held after %s", queuetest.Patience)
	}
	t.Logf("a stalled body was cut %s after it stalled", time.Since(stalled).Round(time.Millisecond))
}

// Eight senders that stall hold every turn to have a webhook body read:
// the next sender is answered 503 at once, not held; when they are gone,
// bodies are read again.
func TestUnknownSendersBodiesAreReadAFewAtATime(t *testing.T) {
	base := webhookServer(t, "  body_timeout: 2m\n")
	var stalled []net.Conn
	for range 8 {
		c := rawConn(t, base)
		sendHead(t, c, "POST", "/webhooks/github", 5<<20, "X-GitHub-Event: push")
		c.Write(make([]byte, 64<<10))
		stalled = append(stalled, c)
	}
	post := func() (int, string) {
		c := rawConn(t, base)
		defer c.Close()
		body := `{"zen":"Keep it logically awesome."}`
		sendHead(t, c, "POST", "/webhooks/github", len(body), "X-GitHub-Event: ping", "X-Hub-Signature-256: sha256=00")
		io.WriteString(c, body)
		resp, text := readAnswer(t, c)
		return resp.StatusCode, text
	}
	var text string
	queuetest.Eventually(t, "a ninth body refused while eight stall", func() bool {
		var status int
		status, text = post()
		return status == 503
	})
	if !strings.Contains(text, "too many request bodies are being read") {
		t.Fatalf("503 %s", text)
	}
	for _, c := range stalled {
		c.Close()
	}
	queuetest.Eventually(t, "a body read (and its signature refused) once they are gone", func() bool {
		status, _ := post()
		return status == 401
	})
}

// The API says who calls before it reads a body: an unknown caller gets
// 401 and a known one declaring more than the API takes gets 413, both
// before sending a byte of the body.
func TestAPIAnswersBeforeReadingBodies(t *testing.T) {
	t.Setenv("ALICE_TOKEN", "alice-token-0123456789")
	base := MustRunMain(t, `server:
  body_timeout: 2m
  api_tokens:
    - {name: alice, token: "${ALICE_TOKEN}"}
apps:
  - name: web
    environments:
      - {name: staging, runner: shell, shell: {command: "true"}}
`).URL
	for _, c := range []struct {
		name   string
		hdr    []string
		status int
	}{
		{"an unknown caller", nil, 401},
		{"alice, too much", []string{"Authorization: Bearer alice-token-0123456789"}, 413},
	} {
		conn := rawConn(t, base)
		sendHead(t, conn, "POST", "/api/v1/deploys", 1<<20, c.hdr...)
		if resp, text := readAnswer(t, conn); resp.StatusCode != c.status {
			t.Errorf("%s: %d %s", c.name, resp.StatusCode, text)
		}
	}
}

// followServer runs a deploy that runs command, which prints lines
// lines, and then waits; it returns the server's URL once the deploy has
// printed everything.
func followServer(t *testing.T, server, command string, lines int) string {
	t.Helper()
	m := MustRunMain(t, "server:\n"+server+`apps:
  - name: web
    environments:
      - name: staging
        runner: shell
        shell: {command: "`+command+`; echo printed; sleep 300"}
`)
	apiCall(t, m.URL, "", "POST", "/api/v1/deploys", `{"app":"web","ref":"`+strings.Repeat("a", 40)+`"}`, nil)
	queuetest.Eventually(t, "the deploy printed its log", func() bool {
		var log strings.Builder
		resp, err := http.Get(fmt.Sprintf("%s/api/v1/deploys/1/log?after=%d", m.URL, lines))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		io.Copy(&log, resp.Body)
		return strings.Contains(log.String(), "stdout printed")
	})
	return m.URL
}

// Followers are counted: past max_followers_per_deploy a follower of that
// deploy gets 429, past max_followers any stream gets 503 (and the
// connection is closed), and a place that frees is taken again.
func TestFollowersAreCapped(t *testing.T) {
	base := followServer(t, "  max_followers: 3\n  max_followers_per_deploy: 2\n", "echo started", 1)
	follow := func(path string, hdr ...string) (*http.Response, string) {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 200 {
			t.Cleanup(func() { resp.Body.Close() })
			return resp, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	first, _ := follow("/api/v1/deploys/1/log?follow=1")
	if r, text := follow("/api/v1/deploys/1/log", "Accept", "text/event-stream"); r.StatusCode != 200 {
		t.Fatalf("a second follower: %d %s", r.StatusCode, text)
	}
	if r, text := follow("/api/v1/deploys/1/log?follow=1"); r.StatusCode != 429 || !strings.Contains(text, `"too_many"`) ||
		!strings.Contains(text, "2 followers of deploy #1 are open") || !r.Close {
		t.Fatalf("a third follower of #1: %d %s", r.StatusCode, text)
	}
	if r, text := follow("/api/v1/events"); r.StatusCode != 200 {
		t.Fatalf("an event stream: %d %s", r.StatusCode, text)
	}
	if r, text := follow("/api/v1/events"); r.StatusCode != 503 || !strings.Contains(text, "3 log followers and event streams are open") {
		t.Fatalf("a fourth stream: %d %s", r.StatusCode, text)
	}
	first.Body.Close()
	queuetest.Eventually(t, "a follower takes the place that freed", func() bool {
		r, _ := follow("/api/v1/deploys/1/log?follow=1")
		return r.StatusCode == 200
	})
}

// A follower that stops reading is cut after write_timeout: the server
// closes its side of the connection while the follower still holds its
// own, unread.
func TestStalledFollowerIsCut(t *testing.T) {
	base := followServer(t, "  write_timeout: 1s\n", "yes "+strings.Repeat("x", 99)+" | head -n 120000", 120000)
	c := rawConn(t, base)
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	if _, err := fmt.Fprintf(c, "GET /api/v1/deploys/1/log?follow=1 HTTP/1.1\r\nHost: %s\r\n\r\n", c.RemoteAddr()); err != nil {
		t.Fatal(err)
	}
	server, client := c.RemoteAddr().(*net.TCPAddr).Port, c.LocalAddr().(*net.TCPAddr).Port
	queuetest.Eventually(t, "the follower connected", func() bool { return serverSide(t, server, client) == tcpEstablished })
	stalled := time.Now()
	queuetest.Eventually(t, "the server cut the stalled follower", func() bool { return serverSide(t, server, client) != tcpEstablished })
	t.Logf("a stalled follower was cut %s after it connected", time.Since(stalled).Round(time.Millisecond))
}

const tcpEstablished = "01"

// serverSide is the state (/proc/net/tcp: 01 established) of the server's
// end of the connection between the ports, "" when it is gone.
func serverSide(t *testing.T, server, client int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	port := func(addr string) int {
		_, hex, _ := strings.Cut(addr, ":")
		n, _ := strconv.ParseInt(hex, 16, 32)
		return int(n)
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && port(f[1]) == server && port(f[2]) == client {
			return f[3]
		}
	}
	return ""
}
