package main_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The database deleted under a running server: /healthz fails loudly and
// deploys are refused, never acknowledged into a file nobody will read.
// A damaged database is refused at start, saying so.
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

	// damaged in the middle: the next start refuses it
	if err := os.Rename(db+".moved", db); err != nil {
		t.Fatal(err)
	}
	os.Remove(db + "-wal")
	f, err := os.OpenFile(db, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	f.WriteAt([]byte(strings.Repeat("\xde\xad\xbe\xef", 1024)), fi.Size()-4096) // the last page
	f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a server that starts is killed, and the test fails
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "serve", "--listen", "127.0.0.1:0")
	cmd.Dir = dir
	got, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(got), "the database is damaged") {
		t.Fatalf("starting on a damaged database: %v\n%s", err, got)
	}
}
