package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/store"
)

// measureBackup copies the database as `deployq backup` does and reports
// how long it took.
func measureBackup(ctx context.Context, o options, db string) error {
	dest := filepath.Join(o.dir, "backup.db")
	start := time.Now()
	size, err := store.Backup(ctx, db, dest)
	if err != nil {
		return err
	}
	took := time.Since(start)
	os.Remove(dest)
	fmt.Printf("backup: %s in %s (%.0f MB/s)\n", mb(size), took.Round(time.Millisecond), float64(size)/1e6/took.Seconds())
	return nil
}

// measurePrune prunes the logs of the deploys of the older half of the
// year, as retention would, and reports how fast it went and the space
// given back.
func measurePrune(ctx context.Context, db string, h *history) error {
	before, err := fileSize(db)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, db)
	if err != nil {
		return err
	}
	now := time.Now()
	start := time.Now()
	rep, err := st.PruneLogs(ctx, queue.Prune{Before: h.year.Add(182 * 24 * time.Hour), Keep: 100, Now: now})
	took := time.Since(start)
	if err := errors.Join(err, st.Close()); err != nil {
		return err
	}
	after, err := fileSize(db)
	if err != nil {
		return err
	}
	fmt.Printf("prune of the older half: %d logs (%.0f a second), %d lines, %s of text in %s; the file went from %s to %s\n",
		rep.Deploys, float64(rep.Deploys)/took.Seconds(), rep.Lines, mb(rep.Bytes), took.Round(time.Millisecond), mb(before), mb(after))
	return nil
}
