package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/api"
	"github.com/deployq/deployq/internal/proctest"
)

// What a hostile deploy prints: a window title, a clear screen, NUL, a
// carriage return, a C1 CSI, a byte that is not UTF-8, a bidi override.
const (
	hostilePrintf = `printf 'title \033]0;pwned\007 clear \033[2J nul \000 cr a\rb csi \302\233 bad \233 bidi \342\200\256 end\n'`
	hostileRaw    = "title \x1b]0;pwned\x07 clear \x1b[2J nul \x00 cr a\rb csi \u009b bad \x9b bidi \u202e end"
	hostileShown  = `title \x1b]0;pwned\x07 clear \x1b[2J nul \x00 cr a\x0db csi \u009b bad \x9b bidi \u202e end`
)

// `deployq logs` shows a log's escapes and NUL inert on a terminal, and
// passes them byte for byte through a pipe.
func TestCLILogsInertOnATerminal(t *testing.T) {
	dir := t.TempDir()
	cfg := fmt.Sprintf("apps:\n  - name: web\n    environments:\n      - name: staging\n        runner: shell\n        shell:\n          command: |\n            %s\n", hostilePrintf)
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	s := startServer(t, dir, nil)
	if out, code := s.cli(t, nil, "", "deploy", "web@"+strings.Repeat("a", 40)); code != 0 {
		t.Fatalf("%d %s", code, out)
	}

	shown, code := onTerminal(t, s.url, "logs", "-f", "1")
	if code != 0 || !strings.Contains(shown, hostileShown) || !strings.Contains(shown, "#1 succeeded") {
		t.Fatalf("on a terminal: exit %d\n%q", code, shown)
	}
	mustBeInert(t, shown)

	piped, code := s.cli(t, nil, "", "logs", "1")
	if code != 0 || !strings.Contains(piped, hostileRaw+"\n") {
		t.Fatalf("through a pipe: exit %d\n%q", code, piped)
	}
}

// `deployq queue` and the errors of the client commands show names, lock
// reasons and messages inert on a terminal. The server here is a stand-in
// for an older or hostile one: deployq's own cleans reasons and refuses
// such names where they enter.
func TestCLIQueueAndErrorsInertOnATerminal(t *testing.T) {
	mallory, reason := "mallory\x1b]0;pwned\x07", "db\x1b[2J\x00 migration"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/environments":
			json.NewEncoder(w).Encode([]api.Environment{{App: "web", Env: "staging",
				Running: &api.Deploy{ID: 3, SHA: strings.Repeat("b", 40), User: mallory},
				Lock:    &api.Lock{Env: "staging", Owner: "alice", Reason: reason}}})
		case "/api/v1/locks":
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "conflict", "message": "staging is locked by alice: " + reason}})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	shown, code := onTerminal(t, srv.URL, "queue")
	if code != 0 || !strings.Contains(shown, `#3 bbbbbbb by mallory\x1b]0;pwned\x07`) || !strings.Contains(shown, `alice: db\x1b[2J\x00 migration`) {
		t.Fatalf("queue on a terminal: exit %d\n%q", code, shown)
	}
	mustBeInert(t, shown)

	shown, code = onTerminal(t, srv.URL, "lock", "staging")
	if code != 1 || !strings.Contains(shown, `staging is locked by alice: db\x1b[2J\x00 migration`) {
		t.Fatalf("lock on a terminal: exit %d\n%q", code, shown)
	}
	mustBeInert(t, shown)

	piped, code := (&server{url: srv.URL}).cli(t, nil, "", "queue")
	if code != 0 || !strings.Contains(piped, "mallory\x1b]0;pwned\x07") || !strings.Contains(piped, reason) {
		t.Fatalf("queue through a pipe: exit %d\n%q", code, piped)
	}
}

// onTerminal runs the CLI against url with its stdout and stderr on a
// pseudo-terminal; it returns what the terminal got, and the exit code.
func onTerminal(t *testing.T, url string, args ...string) (string, int) {
	t.Helper()
	ctl, term := proctest.Pty(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "DEPLOYQ_SERVER="+url)
	cmd.Stdout, cmd.Stderr = term, term
	var got bytes.Buffer
	read := make(chan struct{})
	go func() { io.Copy(&got, ctl); close(read) }() // until EIO: no terminal side is open
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	term.Close()
	err := cmd.Wait()
	<-read
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return got.String(), code
}

// mustBeInert fails the test if the terminal got a byte or a character it
// would act on.
func mustBeInert(t *testing.T, shown string) {
	t.Helper()
	for _, bad := range []string{"\x1b", "\x00", "\x07", "\r", "\x9b", "\u009b", "\u202e"} {
		if strings.Contains(shown, bad) {
			t.Errorf("the terminal got %q:\n%q", bad, shown)
		}
	}
}
