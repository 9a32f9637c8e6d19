package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
)

// Old logs are pruned to their last lines and a line saying what went
// and when; the deploy's record stays; logs of deploys that have not
// ended, or ended since, are untouched; a dry run changes nothing.
func TestPruneLogs(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"))
	defer s.Close()
	ctx := context.Background()
	old := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	mk := func(state queue.State, finished time.Time, lines int) *queue.Deploy {
		d := deploy("web", fmt.Sprintf("env-%s-%d", state, finished.Unix()), queue.StateQueued)
		if err := s.CreateDeploy(ctx, d, audit); err != nil {
			t.Fatal(err)
		}
		run := *d
		run.State = queue.StateRunning
		if err := s.UpdateDeploy(ctx, &run, queue.StateQueued, nil); err != nil {
			t.Fatal(err)
		}
		var log []queue.LogLine
		for i := 1; i <= lines; i++ {
			log = append(log, queue.LogLine{DeployID: d.ID, Seq: int64(i), Time: old, Stream: queue.StreamStdout, Text: fmt.Sprintf("line %d", i)})
		}
		if err := s.AppendLog(ctx, log); err != nil {
			t.Fatal(err)
		}
		if state == queue.StateRunning {
			return &run
		}
		end := run
		end.State, end.FinishedAt, end.Error = state, finished, "exit status 1"
		if err := s.UpdateDeploy(ctx, &end, queue.StateRunning, nil); err != nil {
			t.Fatal(err)
		}
		return &end
	}
	failed := mk(queue.StateFailed, old, 5000)
	short := mk(queue.StateSucceeded, old, 30)
	recent := mk(queue.StateSucceeded, now.Add(-time.Hour), 5000)
	running := mk(queue.StateRunning, time.Time{}, 5000)
	p := queue.Prune{Before: now.Add(-90 * 24 * time.Hour), Keep: 100, Now: now}

	dry := p
	dry.DryRun = true
	rep, err := s.PruneLogs(ctx, dry)
	if err != nil || rep.Deploys != 1 || rep.Lines != 4900 {
		t.Fatalf("dry run: %+v %v", rep, err)
	}
	if lines, _ := s.Log(ctx, failed.ID, 0, -1); len(lines) != 5000 {
		t.Fatalf("a dry run removed lines: %d left", len(lines))
	}

	rep, err = s.PruneLogs(ctx, p)
	if err != nil || rep.Deploys != 1 || rep.Lines != 4900 || rep.Bytes == 0 {
		t.Fatalf("prune: %+v %v", rep, err)
	}
	lines, err := s.Log(ctx, failed.ID, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 101 || lines[0].Seq != 4900 || !strings.HasPrefix(lines[0].Text, "log pruned on 2026-11-30: 4900 earlier lines") ||
		lines[1].Text != "line 4901" || lines[100].Text != "line 5000" {
		t.Fatalf("the pruned log: %d lines, first %+v, last %+v", len(lines), lines[0], lines[len(lines)-1])
	}
	if d, err := s.Deploy(ctx, failed.ID); err != nil || d.Error != "exit status 1" || d.State != queue.StateFailed {
		t.Fatalf("the record of a pruned deploy: %+v %v", d, err)
	}
	for _, d := range []*queue.Deploy{short, recent, running} {
		want := 5000
		if d == short {
			want = 30
		}
		if lines, _ := s.Log(ctx, d.ID, 0, -1); len(lines) != want {
			t.Fatalf("#%d (%s): %d lines left, want %d", d.ID, d.State, len(lines), want)
		}
	}
	if rep, err := s.PruneLogs(ctx, p); err != nil || rep.Deploys != 0 {
		t.Fatalf("pruning again: %+v %v", rep, err)
	}
}
