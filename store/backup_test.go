package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/store"
)

// A backup taken while a deploy writes its log holds a consistent moment:
// the deploy running with a prefix of its lines, in order; writes go on
// meanwhile. Restored, the copy opens and the old database is kept.
func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "deployq.db")
	s := open(t, file)
	ctx := context.Background()
	d := deploy("web", "production", queue.StateQueued)
	if err := s.CreateDeploy(ctx, d, audit); err != nil {
		t.Fatal(err)
	}
	run := *d
	run.State = queue.StateRunning
	if err := s.UpdateDeploy(ctx, &run, queue.StateQueued, nil); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	written := make(chan int64, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the deploy prints while the backup is taken
		defer wg.Done()
		seq := int64(0)
		defer func() { written <- seq }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			var batch []queue.LogLine
			for range 50 {
				seq++
				batch = append(batch, queue.LogLine{DeployID: d.ID, Seq: seq, Time: at, Stream: queue.StreamStdout, Text: fmt.Sprintf("line %d %s", seq, strings.Repeat("x", 60))})
			}
			if err := s.AppendLog(ctx, batch); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var lines []queue.LogLine
	queuetest.Eventually(t, "the log has lines", func() bool {
		lines, _ = s.Log(ctx, d.ID, 0, 1)
		return len(lines) > 0
	})

	copyFile := filepath.Join(t.TempDir(), "backup.db")
	size, err := store.Backup(ctx, file, copyFile)
	close(stop)
	wg.Wait()
	total := <-written
	if err != nil || size == 0 {
		t.Fatalf("backup: %d %v", size, err)
	}
	if fi, _ := os.Stat(copyFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("the backup's mode is %v, want 0600", fi.Mode().Perm())
	}
	if _, err := store.Backup(ctx, file, copyFile); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("a backup over a file: %v", err)
	}
	s.Close()

	restoreTo := filepath.Join(t.TempDir(), "deployq.db")
	kept, err := store.Restore(ctx, copyFile, restoreTo)
	if err != nil || kept != "" {
		t.Fatalf("restore into an empty directory: %q %v", kept, err)
	}
	c := open(t, restoreTo)
	defer c.Close()
	got, err := c.Deploy(ctx, d.ID)
	if err != nil || got.State != queue.StateRunning {
		t.Fatalf("the copy's deploy: %+v %v", got, err)
	}
	log, err := c.Log(ctx, d.ID, 0, int(total)+1)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) == 0 || int64(len(log)) > total {
		t.Fatalf("the copy holds %d lines of %d written", len(log), total)
	}
	for i, l := range log { // a prefix, whole
		if l.Seq != int64(i+1) || !strings.HasPrefix(l.Text, fmt.Sprintf("line %d ", i+1)) {
			t.Fatalf("line %d of the copy: %+v", i, l)
		}
	}

	// Restored over a database, that one is kept beside it.
	kept, err = store.Restore(ctx, copyFile, file)
	if err != nil || !strings.HasPrefix(kept, file+".before-restore-") {
		t.Fatalf("restore over a database: %q %v", kept, err)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Fatal(err)
	}
}

// What is not a deployq database is neither backed up nor restored, and
// a failed restore leaves the database as it was.
func TestBackupRefusesOthers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "deployq.db")
	s := open(t, file)
	s.Close()
	before, _ := os.ReadFile(file)

	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte(strings.Repeat("not sqlite\n", 500)), 0o644)
	if _, err := store.Restore(ctx, junk, file); err == nil {
		t.Fatal("restored from a file that is not a database")
	}
	if _, err := store.Restore(ctx, filepath.Join(dir, "missing.db"), file); err == nil {
		t.Fatal("restored from a missing file")
	}
	if after, _ := os.ReadFile(file); string(after) != string(before) {
		t.Fatal("a failed restore changed the database")
	}
	if _, err := store.Backup(ctx, junk, filepath.Join(dir, "b1.db")); err == nil {
		t.Fatal("backed up a file that is not a database")
	}
	if _, err := store.Backup(ctx, filepath.Join(dir, "missing.db"), filepath.Join(dir, "b2.db")); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Fatalf("a backup of nothing: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "b*.db*")); len(m) != 0 {
		t.Fatalf("failed backups left %v", m)
	}
}
