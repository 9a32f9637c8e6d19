package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/deployq/deployq/queue"
)

// A key carried by the context is recorded with the first write, in its
// transaction: a second write with the key is a duplicate, a write that
// fails records nothing, and later writes of the same context go on.
func TestOnceIsRecordedWithItsWrite(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"))
	defer s.Close()
	bg := context.Background()

	// a write that fails records nothing: the delivery can be done again
	bad := queue.WithOnce(bg, "delivery:1")
	if err := s.UpdateDeploy(bad, &queue.Deploy{ID: 99, State: queue.StateRunning}, queue.StateQueued, nil); err == nil {
		t.Fatal("updating a deploy that is not there worked")
	}
	if seen, _ := s.Seen(bg, "delivery:1"); seen {
		t.Fatal("a failed write recorded its key")
	}

	ctx := queue.WithOnce(bg, "delivery:1")
	d := deploy("web", "prod", queue.StateQueued)
	if err := s.CreateDeploy(ctx, d, audit); err != nil {
		t.Fatal(err)
	}
	if seen, _ := s.Seen(bg, "delivery:1"); !seen {
		t.Fatal("the key was not recorded with the deploy")
	}
	if err := s.SetMeta(ctx, d.ID, "k", "v"); err != nil { // the same request goes on
		t.Fatalf("a later write of the same request: %v", err)
	}
	again := queue.WithOnce(bg, "delivery:1")
	err := s.CreateDeploy(again, deploy("web", "prod", queue.StateQueued), audit)
	if queue.ErrorCode(err) != queue.EDuplicate {
		t.Fatalf("a redelivery: %v", err)
	}
	ds, _ := s.Deploys(bg, queue.DeployFilter{Limit: -1})
	if len(ds) != 1 {
		t.Fatalf("%d deploys, want the first only", len(ds))
	}
	if first, err := s.Once(bg, "delivery:1"); first || err != nil {
		t.Fatalf("Once after the write: %v %v", first, errors.Unwrap(err))
	}
}
