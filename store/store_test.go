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

// The database itself refuses a second running deploy in one app+env.
func TestOneRunningPerLane(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "db"))
	defer s.Close()
	a, b, other := deploy("web", "prod", queue.StateQueued), deploy("web", "prod", queue.StateQueued), deploy("web", "qa", queue.StateQueued)
	for _, d := range []*queue.Deploy{a, b, other} {
		if err := s.CreateDeploy(ctx, d, audit); err != nil {
			t.Fatal(err)
		}
	}
	if a.Number != 1 || b.Number != 2 || other.Number != 1 {
		t.Fatalf("numbers %d %d %d", a.Number, b.Number, other.Number)
	}
	a.State, b.State, other.State = queue.StateRunning, queue.StateRunning, queue.StateRunning
	if err := s.UpdateDeploy(ctx, a, queue.StateQueued, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateDeploy(ctx, b, queue.StateQueued, nil); queue.ErrorCode(err) != queue.EConflict {
		t.Fatalf("second running deploy: %v", err)
	}
	if err := s.UpdateDeploy(ctx, other, queue.StateQueued, nil); err != nil {
		t.Fatalf("another env: %v", err)
	}
	// a conditional update from a state it is not in
	if err := s.UpdateDeploy(ctx, a, queue.StateQueued, nil); queue.ErrorCode(err) != queue.EConflict {
		t.Fatalf("stale update: %v", err)
	}
	entries, _ := s.AuditLog(ctx, 10)
	if len(entries) != 3 || entries[0].Target != "#3" {
		t.Fatalf("audit %+v", entries)
	}
}

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

func TestLogLines(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "db"))
	defer s.Close()
	var lines []queue.LogLine
	for i := 1; i <= 1000; i++ { // more than one multi-row statement, and a remainder
		lines = append(lines, queue.LogLine{DeployID: 9, Seq: int64(i), Time: time.Unix(int64(i), 0), Stream: "stdout", Host: "h", Text: "t"})
	}
	if err := s.AppendLog(ctx, lines); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Log(ctx, 9, 990, 0)
	last, _ := s.LastLogSeq(ctx, 9)
	if len(got) != 10 || got[0].Seq != 991 || last != 1000 || !got[0].Time.Equal(time.Unix(991, 0)) {
		t.Fatalf("%d lines from %d, last %d", len(got), got[0].Seq, last)
	}
}

// The outbox gives each key's oldest message, when due, in order.
func TestOutbox(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "db"))
	defer s.Close()
	for _, m := range [][2]string{{"deploy:1", "a"}, {"deploy:2", "x"}, {"deploy:1", "b"}} {
		if err := s.OutboxAdd(ctx, m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	due, _ := s.OutboxDue(ctx, time.Now(), 10)
	if len(due) != 2 || due[0].Body != "a" || due[1].Body != "x" {
		t.Fatalf("%+v", due)
	}
	// "a" fails: "b" waits behind it; "a" comes back when due
	s.OutboxRetry(ctx, due[0].ID, time.Now().Add(500*time.Millisecond), "502")
	s.OutboxDone(ctx, due[1].ID)
	if due, _ := s.OutboxDue(ctx, time.Now(), 10); len(due) != 0 {
		t.Fatalf("due while retrying: %+v", due)
	}
	due, _ = s.OutboxDue(ctx, time.Now().Add(time.Second), 10)
	if len(due) != 1 || due[0].Body != "a" || due[0].Attempts != 1 {
		t.Fatalf("%+v", due)
	}
	s.OutboxDone(ctx, due[0].ID)
	due, _ = s.OutboxDue(ctx, time.Now().Add(time.Second), 10)
	if len(due) != 1 || due[0].Body != "b" {
		t.Fatalf("%+v", due)
	}
	// sub-second times compare as times
	s.OutboxRetry(ctx, due[0].ID, time.Unix(1000, 500_000_000), "x")
	if due, _ := s.OutboxDue(ctx, time.Unix(1000, 0), 10); len(due) != 0 {
		t.Fatalf("due half a second early: %+v", due)
	}
	if due, _ := s.OutboxDue(ctx, time.Unix(1001, 0), 10); len(due) != 1 {
		t.Fatalf("not due after: %+v", due)
	}
}
