package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// The short logs of ended deploys are packed together in the background,
// a row each; each reads back whole and in order, from any point, before
// and after.
func TestShortLogsArePacked(t *testing.T) {
	file := filepath.Join(t.TempDir(), "db")
	s := open(t, file)
	defer s.Close()
	ctx := context.Background()
	const deploys, lines = 200, 40 // some 400 kB of text: one pack or more
	text := func(id int64, seq int) string {
		return fmt.Sprintf("deploy %d: step %d: Setting up libfoo%d (1.2.%d) ...", id, seq, seq%7, seq)
	}
	var ids []int64
	for i := range deploys {
		d := deploy("web", fmt.Sprintf("env%d", i%4), queue.StateQueued)
		if err := s.CreateDeploy(ctx, d, audit); err != nil {
			t.Fatal(err)
		}
		run := *d
		run.State = queue.StateRunning
		if err := s.UpdateDeploy(ctx, &run, queue.StateQueued, nil); err != nil {
			t.Fatal(err)
		}
		var log []queue.LogLine
		for seq := 1; seq <= lines; seq++ {
			log = append(log, queue.LogLine{DeployID: d.ID, Seq: int64(seq), Time: time.Unix(1700000000+int64(seq), 0).UTC(),
				Stream: queue.StreamStdout, Text: text(d.ID, seq)})
		}
		for k := 0; k < lines-1; k += 8 { // as a runner writes: a few lines at a time
			if err := s.AppendLog(ctx, log[k:min(k+8, lines-1)]); err != nil {
				t.Fatal(err)
			}
		}
		end := run
		end.State = queue.StateSucceeded
		if err := s.UpdateDeploy(ctx, &end, queue.StateRunning, log[lines-1:]); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	db, err := sql.Open("sqlite3", file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	queuetest.Eventually(t, "the short logs are packed", func() bool {
		var n int
		db.QueryRow(`SELECT count(*) FROM log_chunks WHERE pack IS NOT NULL`).Scan(&n)
		return n >= deploys/2
	})
	// A deploy's few-line chunks became one row in its pack (two when
	// its log spans two packs).
	var rows, logs, packs int
	db.QueryRow(`SELECT count(*), count(DISTINCT deploy_id), count(DISTINCT pack) FROM log_chunks WHERE pack IS NOT NULL`).Scan(&rows, &logs, &packs)
	if rows > logs+packs {
		t.Fatalf("%d rows for the packed logs of %d deploys in %d packs", rows, logs, packs)
	}
	for _, id := range ids {
		for _, after := range []int64{0, 17} {
			got, err := s.Log(ctx, id, after, -1)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != lines-int(after) {
				t.Fatalf("#%d after %d: %d lines", id, after, len(got))
			}
			for i, l := range got {
				if seq := int(after) + i + 1; l.Seq != int64(seq) || l.Text != text(id, seq) {
					t.Fatalf("#%d after %d: line %d is %+v", id, after, i, l)
				}
			}
		}
	}
}
