package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
)

// Pruning logs that were packed with others gives their space back: a
// pack left mostly unused is undone and its other logs packed anew, whole.
func TestPruneCompactsPacks(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"))
	defer s.Close()
	ctx := context.Background()
	old := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	text := func(id int64, i int) string {
		return fmt.Sprintf("deploy %d step %d: %x", id, i, uint64(id)*0x9E3779B97F4A7C15^uint64(i)*0xBF58476D1CE4E5B9)
	}
	var kept []int64
	for n := range 80 {
		d := deploy("web", fmt.Sprintf("env%d", n), queue.StateQueued)
		if err := s.CreateDeploy(ctx, d, audit); err != nil {
			t.Fatal(err)
		}
		run := *d
		run.State = queue.StateRunning
		if err := s.UpdateDeploy(ctx, &run, queue.StateQueued, nil); err != nil {
			t.Fatal(err)
		}
		var log []queue.LogLine
		for i := 1; i <= 300; i++ {
			log = append(log, queue.LogLine{DeployID: d.ID, Seq: int64(i), Time: old, Stream: queue.StreamStdout, Text: text(d.ID, i)})
		}
		if err := s.AppendLog(ctx, log); err != nil {
			t.Fatal(err)
		}
		end := run
		end.State, end.FinishedAt = queue.StateSucceeded, old
		if n%8 == 0 { // one in eight is recent: its log stays
			end.FinishedAt = now.Add(-time.Hour)
			kept = append(kept, d.ID)
		}
		if err := s.UpdateDeploy(ctx, &end, queue.StateRunning, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := s.PruneLogs(ctx, queue.Prune{Before: now.Add(-90 * 24 * time.Hour), Keep: 10, Now: now})
	if err != nil || rep.Deploys != 70 || rep.Lines != 70*290 {
		t.Fatalf("prune: %+v %v", rep, err)
	}
	if rep.Freed < rep.Bytes/10 { // the text compresses some 3 to 5 times; most of it must be given back
		t.Fatalf("pruning %d bytes of packed text gave back %d bytes of the file", rep.Bytes, rep.Freed)
	}
	for _, id := range kept {
		lines, err := s.Log(ctx, id, 0, -1)
		if err != nil || len(lines) != 300 {
			t.Fatalf("#%d: %d lines, %v", id, len(lines), err)
		}
		for i, l := range lines {
			if l.Text != text(id, i+1) {
				t.Fatalf("#%d line %d: %q", id, i+1, l.Text)
			}
		}
	}
}
