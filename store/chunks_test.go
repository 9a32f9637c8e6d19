package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
)

// A database made before logs were chunks opens with every line where it
// was, its old table gone, and its free pages returnable.
func TestLogLinesMoveIntoChunks(t *testing.T) {
	file := filepath.Join(t.TempDir(), "deployq.db")
	copyFile(t, "testdata/before-log-chunks.db", file)
	s := open(t, file)
	ctx := context.Background()
	for id := int64(1); id <= 3; id++ {
		lines, err := s.Log(ctx, id, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) != int(500*id)+1 {
			t.Fatalf("#%d: %d lines, want %d", id, len(lines), 500*id+1)
		}
		for i, l := range lines[:500*id] {
			j := i + 1
			want := fmt.Sprintf("deploy %d line %d: installing package %d", id, j, j%17)
			at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC).Add(time.Duration(j) * time.Millisecond)
			host := ""
			if j%3 == 0 {
				host = "web-1"
			}
			if l.Seq != int64(j) || l.Text != want || l.Host != host || l.Stream != queue.StreamStdout || !l.Time.Equal(at) {
				t.Fatalf("#%d line %d: %+v", id, j, l)
			}
		}
		if last := lines[len(lines)-1]; last.Stream != queue.StreamSystem || last.Text != "deploy ended" {
			t.Fatalf("#%d: last line %+v", id, last)
		}
		if seq, _ := s.LastLogSeq(ctx, id); seq != 500*id+1 {
			t.Fatalf("#%d: last seq %d", id, seq)
		}
	}
	s.Close()
	db, err := sql.Open("sqlite3", file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables, vacuum int
	db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'log_lines'`).Scan(&tables)
	db.QueryRow(`PRAGMA auto_vacuum`).Scan(&vacuum)
	if tables != 0 || vacuum != 2 {
		t.Fatalf("log_lines tables %d, auto_vacuum %d (want 0, incremental)", tables, vacuum)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
}

// Lines written a few at a time, as a deploy prints them, are read back
// whole and in order, from any point, while they wait in small chunks,
// once sealed by size, and once sealed by the deploy's end; a batch
// stored twice is read once.
func TestLogChunks(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"))
	defer s.Close()
	ctx := context.Background()
	d := deploy("web", "prod", queue.StateQueued)
	if err := s.CreateDeploy(ctx, d, audit); err != nil {
		t.Fatal(err)
	}
	run := *d
	run.State = queue.StateRunning
	if err := s.UpdateDeploy(ctx, &run, queue.StateQueued, nil); err != nil {
		t.Fatal(err)
	}
	line := func(seq int) queue.LogLine {
		streams := []string{queue.StreamStdout, queue.StreamStderr, queue.StreamSystem}
		return queue.LogLine{DeployID: d.ID, Seq: int64(seq), Time: time.Unix(1700000000, int64(seq)*1000).UTC(),
			Stream: streams[seq%3], Host: []string{"", "web-1", "web-2"}[seq%3], Text: fmt.Sprintf("line %d %s", seq, strings.Repeat("x", seq%100))}
	}
	const n = 4000 // about 200 kB: one sealed chunk by size, the rest waiting
	for seq := 1; seq <= n; seq += 7 {
		var batch []queue.LogLine
		for j := seq; j < seq+7 && j <= n; j++ {
			batch = append(batch, line(j))
		}
		if err := s.AppendLog(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if seq == 1 {
			if err := s.AppendLog(ctx, batch); err != nil { // stored twice
				t.Fatal(err)
			}
		}
	}
	check := func(when string) {
		t.Helper()
		for _, after := range []int64{0, 1, 1999, 3998, n} {
			got, err := s.Log(ctx, d.ID, after, -1)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n-int(after) {
				t.Fatalf("%s, after %d: %d lines, want %d", when, after, len(got), n-int(after))
			}
			for i, l := range got {
				if want := line(int(after) + i + 1); l != want {
					t.Fatalf("%s, after %d: line %d is %+v, want %+v", when, after, i, l, want)
				}
			}
		}
		if got, _ := s.Log(ctx, d.ID, 10, 5); len(got) != 5 || got[0].Seq != 11 || got[4].Seq != 15 {
			t.Fatalf("%s: a limit of 5 after 10: %+v", when, got)
		}
	}
	check("while it writes")
	end := run
	end.State = queue.StateSucceeded
	if err := s.UpdateDeploy(ctx, &end, queue.StateRunning, nil); err != nil {
		t.Fatal(err)
	}
	check("once it ended")
}
