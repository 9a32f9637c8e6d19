package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/deployq/deployq/config"
	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/store"
)

// prune is the prune command: the server prunes old logs, now.
func prune(ctx context.Context, x *call) error {
	p, c, err := x.connect()
	if err != nil {
		return err
	}
	if err := p.noWords(); err != nil {
		return err
	}
	if !p.has("logs-older-than") {
		return usageError{msg: "--logs-older-than missing (e.g. --logs-older-than 90d)"}
	}
	r, err := c.Prune(ctx, p.get("logs-older-than"), p.on("dry-run"))
	if err != nil {
		return err
	}
	if r.DryRun {
		fmt.Fprintf(x.stdout, "would prune the logs of %d deploys: %d lines, %s of text (dry run: nothing changed)\n",
			r.Deploys, r.Lines, queue.Size(r.Bytes))
		return nil
	}
	fmt.Fprintf(x.stdout, "pruned the logs of %d deploys: %d lines, %s of text; the database gave back %s\n",
		r.Deploys, r.Lines, queue.Size(r.Bytes), queue.Size(r.Freed))
	return nil
}

// backup is the backup command: a consistent copy of the database of the
// data directory, taken while its server runs.
func backup(ctx context.Context, x *call) error {
	file, dest, err := x.dataFile("FILE to write")
	if err != nil {
		return err
	}
	size, err := store.Backup(ctx, file, dest)
	if err != nil {
		return err
	}
	fmt.Fprintf(x.stdout, "backed up %s to %s (%s)\n", file, dest, queue.Size(size))
	return nil
}

// restore is the restore command: the database of the data directory
// replaced by a backup, while no server uses that directory.
func restore(ctx context.Context, x *call) error {
	file, from, err := x.dataFile("the backup FILE")
	if err != nil {
		return err
	}
	unlock, err := lockDataDir(filepath.Dir(file))
	if err != nil {
		return fmt.Errorf("%w: stop it first, then restore", err)
	}
	defer unlock()
	kept, err := store.Restore(ctx, from, file)
	if err != nil {
		return err
	}
	fmt.Fprintf(x.stdout, "restored %s from %s\n", file, from)
	if kept != "" {
		fmt.Fprintf(x.stdout, "the database it replaced is kept as %s\n", kept)
	}
	fmt.Fprintln(x.stdout, "start deployq: deploys that were running when the backup was taken show as interrupted")
	return nil
}

// dataFile reads FILE and the data directory's database from --data-dir,
// else the config's server.data_dir, else ./data.
func (x *call) dataFile(what string) (db, file string, err error) {
	p, err := x.parse()
	if err != nil {
		return "", "", err
	}
	if len(p.words) == 0 {
		return "", "", usageError{msg: what + " missing"}
	}
	if err := wantWords(p.words, 1); err != nil {
		return "", "", err
	}
	dir := p.get("data-dir")
	if dir == "" {
		cfg, err := readSetup(p.get("config"))
		if err != nil {
			return "", "", err
		}
		if cfg.Store.Driver == config.DriverPostgres {
			return "", "", errors.New("the store is PostgreSQL (store.driver: postgres): back it up and restore it with pg_dump and pg_restore, as the README says")
		}
		dir = cmp.Or(cfg.Server.DataDir, "./data")
	}
	return filepath.Join(dir, "deployq.db"), p.words[0], nil
}
