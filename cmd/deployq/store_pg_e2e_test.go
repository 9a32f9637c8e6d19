package main_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/deployq/deployq/internal/pgtest"
	"github.com/deployq/deployq/internal/queuetest"
)

// deployq on PostgreSQL (store.driver: postgres), as an operator runs it:
// deploys go through and their logs are kept there, not in the data
// directory; a server killed mid-deploy finds that deploy interrupted at
// its next start, with the lines it had printed, and goes on. While the
// database is down, /healthz says so and deploys are refused; once it is
// back, they go again. backup points to pg_dump.
func TestPostgresStoreThroughTheBinary(t *testing.T) {
	db := pgtest.Private(t) // stopped and started again below
	dsn := db.NewDB(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "go")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`server:
  data_dir: ./data
store:
  driver: postgres
  dsn: "${DEPLOYQ_DSN}"
apps:
  - name: web
    environments:
      - name: production
        runner: shell
        shell:
          command: |
            if [ "$DEPLOY_ID" = 1 ]; then for i in $(seq 1 50); do echo "step $i"; done; read x < %s; fi
            echo "deployed $DEPLOY_ID"
`, fifo)
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	env := []string{"DEPLOYQ_DSN=" + dsn}
	state := func(url string, id int) string {
		var d struct{ State string }
		getJSON(t, fmt.Sprintf("%s/api/v1/deploys/%d", url, id), &d)
		return d.State
	}

	s := startServer(t, dir, env)
	var health struct{ Status string }
	if code := getJSON(t, s.url+"/healthz", &health); code != http.StatusOK {
		t.Fatalf("/healthz on PostgreSQL: %d %+v", code, health)
	}
	s.cliOK(t, nil, "deploy", "web@"+strings.Repeat("a", 40))
	queuetest.Eventually(t, "#1 printed its steps", func() bool {
		out, _ := s.cli(t, nil, "", "logs", "1")
		return strings.Contains(out, "step 50")
	})
	if _, err := os.Stat(filepath.Join(dir, "data", "deployq.db")); !os.IsNotExist(err) {
		t.Fatalf("a SQLite database in the data directory of a PostgreSQL server: %v", err)
	}

	s.cmd.Process.Kill() // kill -9 while #1 runs
	<-s.done
	s = startServer(t, dir, env)
	if st := state(s.url, 1); st != "interrupted" {
		t.Fatalf("#1 after a kill -9: %s, want interrupted", st)
	}
	mustContain(t, "#1's log", s.cliOK(t, nil, "logs", "1"), "step 1\n", "step 50", "interrupted")
	mustContain(t, "#2", s.cliOK(t, nil, "deploy", "--follow", "web@"+strings.Repeat("b", 40)), "deployed 2")
	mustContain(t, "history", s.cliOK(t, nil, "history", "web"), "succeeded", "interrupted")

	db.Stop()
	queuetest.Eventually(t, "/healthz says the database is down", func() bool {
		return getJSON(t, s.url+"/healthz", &health) == http.StatusServiceUnavailable
	})
	if out, code := s.cli(t, nil, "", "deploy", "web@"+strings.Repeat("c", 40)); code == 0 || !strings.Contains(out, "cannot be reached") {
		t.Fatalf("a deploy while the database is down: %d %s", code, out)
	}
	if err := db.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	queuetest.Eventually(t, "/healthz is well again", func() bool {
		return getJSON(t, s.url+"/healthz", &health) == http.StatusOK
	})
	mustContain(t, "#3", s.cliOK(t, nil, "deploy", "--follow", "web@"+strings.Repeat("d", 40)), "deployed 3")

	cmd := exec.Command(binary, "backup", filepath.Join(t.TempDir(), "b.db"))
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "the store is PostgreSQL") || !strings.Contains(string(out), "pg_dump") {
		t.Fatalf("backup of a PostgreSQL store: %v %s", err, out)
	}
	s.stop(t)
}
