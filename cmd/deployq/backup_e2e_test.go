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

	"github.com/deployq/deployq/internal/queuetest"
)

// A backup taken while a deploy runs, restored once the server stopped,
// opens and shows that deploy interrupted, with the lines it had printed;
// what happened after the backup is gone. Restore refuses while a server
// holds the data directory and keeps the database it replaces. Then prune
// cuts that deploy's log to its last lines, for an admin only.
func TestBackupAndRestoreThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "go")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`server:
  data_dir: ./data
admins: [alice]
apps:
  - name: web
    environments:
      - name: production
        runner: shell
        shell:
          command: |
            if [ "$DEPLOY_ID" = 1 ]; then for i in $(seq 1 300); do echo "step $i"; done; read x < %s; fi
            echo "deployed $DEPLOY_ID"
`, fifo)
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	s := startServer(t, dir, nil)
	sha := func(c string) string { return strings.Repeat(c, 40) }
	alice, bob := []string{"USER=alice"}, []string{"USER=bob"}
	state := func(id int) (string, int) {
		var d struct{ State string }
		code := getJSON(t, fmt.Sprintf("%s/api/v1/deploys/%d", s.url, id), &d)
		return d.State, code
	}

	s.cliOK(t, alice, "deploy", "web@"+sha("a"))
	queuetest.Eventually(t, "#1 printed its steps", func() bool {
		out, _ := s.cli(t, nil, "", "logs", "1")
		return strings.Contains(out, "step 300")
	})
	backupFile := filepath.Join(t.TempDir(), "deployq-backup.db")
	local := func(args ...string) (string, int) { // in the server's directory, as an operator would
		t.Helper()
		cmd := exec.Command(binary, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			if cmd.ProcessState == nil {
				t.Fatal(err)
			}
			return string(out), cmd.ProcessState.ExitCode()
		}
		return string(out), 0
	}
	out, code := local("backup", backupFile)
	if code != 0 || !strings.Contains(out, "backed up data/deployq.db to "+backupFile) {
		t.Fatalf("backup: %d %s", code, out)
	}
	if out, code = local("backup", backupFile); code != 1 || !strings.Contains(out, "exists: back up to a new file") {
		t.Fatalf("a backup over the last one: %d %s", code, out)
	}

	os.WriteFile(fifo, []byte("go\n"), 0) // #1 ends; #2 comes after the backup
	queuetest.Eventually(t, "#1 succeeded", func() bool { st, _ := state(1); return st == "succeeded" })
	mustContain(t, "#2", s.cliOK(t, alice, "deploy", "--follow", "web@"+sha("b")), "deployed 2")

	if out, code = local("restore", backupFile); code != 1 || !strings.Contains(out, "another deployq (pid") || !strings.Contains(out, "stop it first") {
		t.Fatalf("a restore under a running server: %d %s", code, out)
	}
	s.stop(t)
	out, code = local("restore", backupFile)
	if code != 0 || !strings.Contains(out, "restored data/deployq.db from "+backupFile) || !strings.Contains(out, "kept as data/deployq.db.before-restore-") {
		t.Fatalf("restore: %d %s", code, out)
	}

	s = startServer(t, dir, nil)
	if st, _ := state(1); st != "interrupted" {
		t.Fatalf("#1 after the restore: %s, want interrupted", st)
	}
	if _, code := state(2); code != http.StatusNotFound {
		t.Fatalf("#2, deployed after the backup, answers %d after the restore", code)
	}
	log := s.cliOK(t, nil, "logs", "1")
	mustContain(t, "#1's log", log, "step 1\n", "step 300", "interrupted")

	// Prune: admins only; a dry run changes nothing; then the log keeps its
	// last lines and says the rest was pruned.
	s.cliFails(t, bob, "bob may not prune logs (admins: alice)", "prune", "--logs-older-than", "1s")
	s.cliFails(t, alice, `bad logs_older_than "soon"`, "prune", "--logs-older-than", "soon")
	queuetest.Eventually(t, "#1 ended over a second ago", func() bool {
		out, _ := s.cli(t, alice, "", "prune", "--logs-older-than", "1s", "--dry-run")
		return strings.Contains(out, "would prune the logs of 1 deploys")
	})
	mustContain(t, "prune", s.cliOK(t, alice, "prune", "--logs-older-than", "1s"), "pruned the logs of 1 deploys")
	log = s.cliOK(t, nil, "logs", "1")
	mustContain(t, "#1's pruned log", log, "log pruned on", "step 300", "interrupted")
	if strings.Contains(log, "step 1\n") {
		t.Fatalf("#1's log kept its first lines:\n%s", log)
	}
	mustContain(t, "audit", s.cliOK(t, nil, "audit"), "alice", "prune")
	s.stop(t)
}
