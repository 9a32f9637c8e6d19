package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/marathontest"
)

// scale, stop, start and restart from the CLI, on Marathon (its
// simulator): each is queued like a deploy and followed to its end.
func TestCLIOperations(t *testing.T) {
	m, err := marathontest.Start(5 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	if err := m.Seed("/production/web", "registry.example.com/web:1", 2); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`apps:
  - name: web
    environments:
      - name: production
        runner: marathon
        marathon: {url: %s, app_id: /production/web, image: "registry.example.com/web:{sha}", poll_interval: 20ms}
      - {name: staging, runner: shell, shell: {command: "true"}}
`, m.URL)
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	s := startServer(t, dir, nil)

	for _, c := range []struct {
		args  []string
		said  string
		count int // instances afterwards
	}{
		{[]string{"scale", "--follow", "web", "in", "production", "to", "3"}, "#1 queued: scale web in production to 3", 3},
		{[]string{"stop", "web", "in", "production", "-f"}, "#2 queued: stop web in production", 0},
		{[]string{"start", "-f", "web", "in", "production"}, "#3 queued: start web in production", 3},
		{[]string{"restart", "-f", "web", "in", "production"}, "#4 queued: restart web in production", 3},
	} {
		out, code := s.cli(t, nil, "", c.args...)
		if code != 0 || !strings.Contains(out, c.said) || !strings.Contains(out, " succeeded\n") {
			t.Fatalf("deployq %s: exit %d\n%s", strings.Join(c.args, " "), code, out)
		}
		if _, n := m.Image("/production/web"); n != c.count {
			t.Fatalf("after %s: %d instances, want %d", c.args[0], n, c.count)
		}
	}
	out, code := s.cli(t, nil, "", "restart", "web", "in", "staging")
	if code != 1 || !strings.Contains(out, "the shell runner of web in staging cannot restart") {
		t.Logf("%s", out)
		t.Fatalf("restart on the shell runner: exit %d\n%s", code, out)
	}
	out, _ = s.cli(t, nil, "", "history", "web", "in", "production")
	mustContain(t, "history", out, "scale to 3", "stop", "start", "restart")
}
