package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Backup writes a consistent copy of the database at file to dest, while
// a server may be writing it: one read transaction (VACUUM INTO) over a
// read-only connection, so deploys go on meanwhile. The copy is checked
// before it takes dest's name; dest must not exist. It returns the copy's
// size.
func Backup(ctx context.Context, file, dest string) (int64, error) {
	if _, err := os.Stat(file); err != nil {
		return 0, fmt.Errorf("no database to back up: %w", err)
	}
	if _, err := os.Lstat(dest); err == nil {
		return 0, fmt.Errorf("%s exists: back up to a new file", dest)
	}
	db, err := sql.Open("sqlite3", "file:"+file+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if err := isDeployq(ctx, db); err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	tmp := fmt.Sprintf("%s.partial-%d", dest, os.Getpid())
	os.Remove(tmp)
	defer os.Remove(tmp)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return 0, fmt.Errorf("backing up %s: %w", file, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil { // every deploy and log: the operator's alone
		return 0, err
	}
	if err := checkFile(ctx, tmp); err != nil {
		return 0, fmt.Errorf("the copy does not read back: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return 0, err
	}
	if err := os.Link(tmp, dest); err != nil { // never over a file that appeared meanwhile
		return 0, err
	}
	fi, err := os.Stat(dest)
	if err != nil {
		return 0, err
	}
	return fi.Size(), syncDir(filepath.Dir(dest))
}

// Restore puts the backup in place of the database at file, which no
// server may have open (the caller holds the data directory). The backup
// is checked first; the database it replaces, with its write-ahead log,
// is kept beside it as FILE.before-restore-TIME, whose name it returns.
// The next Open migrates the copy if it is older, and finds the deploys
// that were running when it was taken interrupted.
func Restore(ctx context.Context, backup, file string) (string, error) {
	if err := checkFile(ctx, backup); err != nil {
		return "", fmt.Errorf("%s: %w", backup, err)
	}
	tmp := file + ".restoring"
	if err := copyFile(backup, tmp); err != nil {
		os.Remove(tmp)
		return "", err
	}
	var kept string
	if _, err := os.Stat(file); err == nil {
		kept = file + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Rename(file+suffix, kept+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				os.Remove(tmp)
				return "", err
			}
		}
	}
	if err := os.Rename(tmp, file); err != nil {
		return kept, err
	}
	return kept, syncDir(filepath.Dir(file))
}

// checkFile opens the database at path read-only and checks that it is
// whole and is deployq's.
func checkFile(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	if err := quickCheck(ctx, db); err != nil {
		return err
	}
	return isDeployq(ctx, db)
}

// isDeployq says whether db holds deployq's tables.
func isDeployq(ctx context.Context, db *sql.DB) error {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('schema_migrations', 'deploys')`).Scan(&n)
	if err != nil {
		return fmt.Errorf("not a database (%w)", err)
	}
	if n != 2 {
		return errors.New("not a deployq database")
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
