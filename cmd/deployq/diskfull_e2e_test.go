package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/deployq/deployq/internal/queuetest"
)

// The real binary with its data_dir on a real 2 MB tmpfs that a deploy
// fills: requests get 503 unavailable and /healthz says why, the deploy
// shows the end it reached; once space is back everything goes on, with
// no restart.
func TestFullDiskThroughTheBinary(t *testing.T) {
	data := queuetest.MountTmpfs(t, "2m")
	fifo, big := filepath.Join(data, "go"), filepath.Join(data, "big")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`server:
  data_dir: %s
apps:
  - name: web
    environments:
      - name: production
        runner: shell
        shell:
          command: |
            if [ "$DEPLOY_ID" = 1 ]; then read x < %s; head -c 4000000 /dev/zero > %s 2>/dev/null; echo filled; fi
            echo "deployed $DEPLOY_ID"
`, data, fifo, big)
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	s := startServer(t, dir, nil)
	sha := func(c string) string { return strings.Repeat(c, 40) }

	if out, code := s.cli(t, nil, "", "deploy", "web@"+sha("a")); code != 0 || !strings.Contains(out, "#1 queued") {
		t.Fatalf("%d %s", code, out)
	}
	state := func(id int) string {
		var d struct{ State string }
		getJSON(t, fmt.Sprintf("%s/api/v1/deploys/%d", s.url, id), &d)
		return d.State
	}
	queuetest.Eventually(t, "#1 runs", func() bool { return state(1) == "running" })
	os.WriteFile(fifo, []byte("go\n"), 0) // it fills the disk

	var health struct{ Status, Error string }
	queuetest.Eventually(t, "/healthz says the database cannot be written", func() bool {
		return getJSON(t, s.url+"/healthz", &health) == http.StatusServiceUnavailable
	})
	if health.Status != "unavailable" || health.Error != "the database cannot be written (disk full)" {
		t.Fatalf("/healthz: %+v", health)
	}
	resp, err := http.Post(s.url+"/api/v1/deploys", "application/json", strings.NewReader(`{"app":"web","ref":"`+sha("b")+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable ||
		!strings.Contains(string(body), `"code": "unavailable"`) || !strings.Contains(string(body), "the database cannot be written (disk full)") {
		t.Fatalf("a deploy while the disk is full: %d %s", resp.StatusCode, body)
	}
	if got := state(1); got != "succeeded" {
		t.Fatalf("#1 shows %s, want the end it reached", got)
	}

	if err := os.Remove(big); err != nil { // space is back
		t.Fatal(err)
	}
	queuetest.Eventually(t, "/healthz is ok again", func() bool { return getJSON(t, s.url+"/healthz", &health) == http.StatusOK })
	out, code := s.cli(t, nil, "", "deploy", "--follow", "web@"+sha("c"))
	if code != 0 || !strings.Contains(out, "deployed 2") {
		t.Fatalf("a deploy once space is back: %d %s", code, out)
	}
	out, code = s.cli(t, nil, "", "logs", "1")
	if code != 0 || !strings.Contains(out, "filled") || !strings.Contains(out, "deploy #1 succeeded") {
		t.Fatalf("#1's log: %d %s", code, out)
	}
	s.stop(t)
}

// getJSON reads url into v and returns the status.
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp.StatusCode
}
