package store_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/store"
)

func open(t *testing.T, file string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), file)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func deploy(app, env string, st queue.State) *queue.Deploy {
	return &queue.Deploy{App: app, Env: env, Ref: "main", SHA: "0123456789abcdef0123456789abcdef01234567", State: st,
		User: "alice", Source: queue.SourceAPI}
}

var audit = queue.AuditEntry{Time: time.Now(), User: "alice", Action: "deploy"}

// Writes that share a commit fail alone, and every caller's write is there.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "db")
	s := open(t, file)
	run := deploy("web", "prod", queue.StateQueued)
	s.CreateDeploy(ctx, run, audit)
	run.State = queue.StateRunning
	s.UpdateDeploy(ctx, run, queue.StateQueued, nil)

	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := deploy("web", "prod", queue.StateQueued)
			if errs[i] = s.CreateDeploy(ctx, d, audit); errs[i] != nil || i%2 == 0 {
				return
			}
			d.State = queue.StateRunning // refused: #1 runs
			errs[i] = s.UpdateDeploy(ctx, d, queue.StateQueued, []queue.LogLine{{DeployID: d.ID, Seq: 1, Time: time.Now(), Stream: "system", Text: "x"}})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if want := i%2 == 1; (queue.ErrorCode(err) == queue.EConflict) != want {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	s.Close()

	s = open(t, file) // migrations run once; the data is there
	defer s.Close()
	ds, err := s.Deploys(ctx, queue.DeployFilter{Limit: -1})
	if err != nil || len(ds) != 201 {
		t.Fatalf("%d deploys, %v", len(ds), err)
	}
	for _, d := range ds {
		if lines, _ := s.Log(ctx, d.ID, 0, 0); len(lines) != 0 {
			t.Fatalf("#%d kept lines of a refused update", d.ID)
		}
	}
}
