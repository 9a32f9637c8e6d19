package main_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/store"
)

// The database deleted under a running server: /healthz fails loudly and
// deploys are refused, never acknowledged into a file nobody will read.
// A damaged database is found by the check at start, said loudly, and
// refuses deploys.
func TestDatabaseDeletedOrDamagedThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	cfg := "apps:\n  - name: web\n    environments:\n      - {name: staging, runner: shell, shell: {command: \"true\"}}\n"
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	s := startServer(t, dir, nil)
	db := filepath.Join(dir, "data", "deployq.db")
	if err := os.Rename(db, db+".moved"); err != nil {
		t.Fatal(err)
	}
	var health struct{ Status, Error string }
	if code := getJSON(t, s.url+"/healthz", &health); code != http.StatusServiceUnavailable || !strings.Contains(health.Error, "was deleted while deployq runs") {
		t.Fatalf("/healthz with the database gone: %d %+v", code, health)
	}
	out, code := s.cli(t, nil, "", "deploy", "web@"+strings.Repeat("a", 40))
	if code == 0 || !strings.Contains(out, "was deleted while deployq runs") {
		t.Fatalf("a deploy with the database gone: %d %s", code, out)
	}
	s.stop(t)

	// damaged in the middle: the next start finds it, and says so loudly
	if err := os.Rename(db+".moved", db); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), db) // history, so that the middle of the file is rows
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		st.Audit(context.Background(), queue.AuditEntry{Time: time.Now(), User: "alice", Action: "lock", Target: fmt.Sprint(i), Detail: strings.Repeat("x", 100)})
	}
	st.Close()
	f, err := os.OpenFile(db, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	f.WriteAt([]byte(strings.Repeat("\xde\xad\xbe\xef", 2048)), fi.Size()/2/4096*4096) // two pages in the middle
	f.Close()
	s = startServer(t, dir, nil)
	queuetest.Eventually(t, "/healthz says the database is damaged", func() bool {
		return getJSON(t, s.url+"/healthz", &health) == http.StatusServiceUnavailable && strings.Contains(health.Error, "the database is damaged")
	})
	queuetest.Eventually(t, "the server's log says it", func() bool {
		return strings.Contains(s.stderr.String(), "THE DATABASE IS DAMAGED")
	})
	out, code = s.cli(t, nil, "", "deploy", "web@"+strings.Repeat("b", 40))
	if code == 0 || !strings.Contains(out, "the database is damaged") {
		t.Fatalf("a deploy into a damaged database: %d %s", code, out)
	}
}
