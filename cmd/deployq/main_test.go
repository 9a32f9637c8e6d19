package main_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deployq/deployq/api"
	"github.com/deployq/deployq/client"
	main "github.com/deployq/deployq/cmd/deployq"
	"github.com/deployq/deployq/internal/proctest"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// MustRunMain starts the real server, what `deployq serve` runs, in this
// process: with the config cfg (YAML; ${VAR} is read from the
// environment), its data in a temp dir, listening on 127.0.0.1:0. It is
// closed when the test ends; the server's log is shown if the test failed.
func MustRunMain(tb testing.TB, cfg string) *main.Main {
	tb.Helper()
	return mustRunMainIn(tb, tb.TempDir(), cfg)
}

// mustRunMainIn is MustRunMain with the config and the data in dir, so
// that a second server finds what the first one left.
func mustRunMainIn(tb testing.TB, dir, cfg string) *main.Main {
	tb.Helper()
	path := filepath.Join(dir, "deployq.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		tb.Fatal(err)
	}
	log := &syncBuffer{}
	m := main.NewMain(io.Discard, log)
	m.ConfigPath, m.Listen, m.DataDir = path, "127.0.0.1:0", filepath.Join(dir, "data")
	if err := m.Open(tb.Context()); err != nil {
		tb.Fatalf("open: %v\n%s", err, log.String())
	}
	tb.Cleanup(func() {
		defer func() {
			if tb.Failed() {
				tb.Logf("server log:\n%s", log.String())
			}
		}()
		MustCloseMain(tb, m)
	})
	return m
}

// MustCloseMain closes the server; an error fails the test.
func MustCloseMain(tb testing.TB, m *main.Main) {
	tb.Helper()
	if err := m.Close(); err != nil {
		tb.Fatal(err)
	}
}

// Closing Main while a deploy runs: the deploy ends as interrupted, its
// follower is told so, its processes are gone, and the next server on the
// same data directory finds it ended.
func TestCloseInterruptsRunningDeploys(t *testing.T) {
	dir := t.TempDir()
	child := filepath.Join(dir, "child")
	cfg := `apps:
  - name: web
    environments:
      - name: staging
        runner: shell
        shell: {command: "sleep 300 & echo $! > ` + child + `; echo $$ >> ` + child + `; echo started; wait"}
`
	m := mustRunMainIn(t, dir, cfg)
	c := &client.Client{Base: m.URL, User: "alice"}
	d, err := c.Deploy(t.Context(), "web", "", strings.Repeat("d", 40), false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		d   *api.Deploy
		err error
	}
	var out syncBuffer
	followed := make(chan result, 1)
	go func() {
		d, err := c.Log(t.Context(), d.ID, true, &out)
		followed <- result{d, err}
	}()
	queuetest.Eventually(t, "the follower sees the deploy start", func() bool { return strings.Contains(out.String(), "started") })
	children := proctest.Pids(t, child)
	t.Cleanup(func() { // even when the test fails, leave nothing behind
		for _, pid := range children {
			if proctest.Alive(pid) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})

	MustCloseMain(t, m)
	select {
	case r := <-followed:
		if r.err != nil || r.d.State != queue.StateInterrupted {
			t.Fatalf("the follower got %+v, %v:\n%s", r.d, r.err, out.String())
		}
	case <-time.After(queuetest.Patience):
		t.Fatalf("the follower never heard the end:\n%s", out.String())
	}
	for _, pid := range children {
		if proctest.Alive(pid) {
			t.Errorf("process %d survived Close", pid)
		}
	}

	// Close stored the end: the next server does not find #1 running (its
	// recovery would say so in the log).
	c2 := &client.Client{Base: mustRunMainIn(t, dir, cfg).URL, User: "alice"}
	var log strings.Builder
	got, err := c2.Log(t.Context(), d.ID, false, &log)
	if err != nil || got.State != queue.StateInterrupted {
		t.Fatalf("after a restart: %+v, %v", got, err)
	}
	if !strings.Contains(log.String(), "started") || strings.Contains(log.String(), "deployq stopped while this deploy ran") {
		t.Errorf("after a restart, the log of #1:\n%s", log.String())
	}
}
