package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/store"
)

// A database damaged in the middle of the file is found by the check at
// start: health fails saying so and writes are refused, instead of
// answering green and failing deploy by deploy.
func TestDamagedDatabaseIsFoundAtStart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "deployq.db")
	s := open(t, file)
	ctx := context.Background()
	for i := range 3000 {
		if err := s.Audit(ctx, queue.AuditEntry{Time: time.Now(), User: "alice", Action: "lock", Target: fmt.Sprint(i), Detail: strings.Repeat("x", 100)}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	if fi.Size() < 64*4096 {
		t.Fatalf("the database is only %d bytes", fi.Size())
	}
	garbage := []byte(strings.Repeat("\xde\xad\xbe\xef", 2048)) // two pages
	if _, err := f.WriteAt(garbage, fi.Size()/2/4096*4096); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s, err = store.Open(ctx, file)
	if err != nil {
		t.Fatalf("opening a database damaged in the middle: %v", err)
	}
	defer s.Close()
	found := <-s.Checked()
	if found == nil || !strings.Contains(found.Error(), "the database is damaged") || !strings.Contains(found.Error(), "restore it from a backup") {
		t.Fatalf("the check at start: %v", found)
	}
	if err := s.Health(ctx); queue.ErrorCode(err) != queue.EUnavailable || !strings.Contains(err.Error(), "the database is damaged") {
		t.Fatalf("health: %v", err)
	}
	if err := s.CreateDeploy(ctx, deploy("web", "prod", queue.StateQueued), audit); queue.ErrorCode(err) != queue.EUnavailable {
		t.Fatalf("a write into a damaged database: %v", err)
	}
}

// A database deleted or replaced while deployq runs: health says so and
// writes are refused, rather than acknowledged into a file nobody will
// read again.
func TestDeletedDatabaseFailsLoudly(t *testing.T) {
	for _, c := range []struct {
		name, want string
		do         func(file string) error
	}{
		{"deleted", "was deleted while deployq runs", os.Remove},
		{"replaced", "was replaced while deployq runs", func(file string) error {
			if err := os.WriteFile(file+".new", nil, 0o644); err != nil {
				return err
			}
			return os.Rename(file+".new", file)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "deployq.db")
			s := open(t, file)
			defer s.Close()
			ctx := context.Background()
			if err := s.Health(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.do(file); err != nil {
				t.Fatal(err)
			}
			err := s.Health(ctx)
			if queue.ErrorCode(err) != queue.EUnavailable || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("health: %v", err)
			}
			err = s.CreateDeploy(ctx, deploy("web", "prod", queue.StateQueued), audit)
			if queue.ErrorCode(err) != queue.EUnavailable {
				t.Fatalf("a deploy into a %s database: %v", c.name, err)
			}
		})
	}
}
