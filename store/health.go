package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/mattn/go-sqlite3"
)

// errDiskFull is what a write that found the disk full returns.
var errDiskFull = queue.Errorf(queue.EUnavailable, "the database cannot be written (disk full)")

// health remembers whether the last write failed for want of space, so
// that Health can say so and look again.
type health struct {
	mu     sync.Mutex
	full   bool
	broken error // the integrity check found damage
}

// damaged keeps what the integrity check found (nil: nothing) and
// returns it as the error writes and Health give.
func (h *health) damaged(err error) error {
	if err == nil {
		return nil
	}
	err = queue.Errorf(queue.EUnavailable, "%v", err)
	h.mu.Lock()
	h.broken = err
	h.mu.Unlock()
	return err
}

func (h *health) damage() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.broken
}

// observe classifies the result of a write: a full disk becomes
// errDiskFull (EUnavailable) and is remembered; any success clears it.
func (h *health) observe(err error) error {
	full := diskFull(err)
	h.mu.Lock()
	switch {
	case err == nil:
		h.full = false
	case full:
		h.full = true
	}
	h.mu.Unlock()
	if full {
		return errDiskFull
	}
	return err
}

func (h *health) isFull() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.full
}

// diskFull reports whether SQLite failed for want of space.
func diskFull(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrFull || se.SystemErrno == syscall.ENOSPC
	}
	return errors.Is(err, syscall.ENOSPC)
}

// Health implements queue.Store: the database file must be the one
// opened (not deleted, not replaced); after a write failed for want of
// space, it writes one small row to see whether space came back.
func (s *Store) Health(ctx context.Context) error {
	if err := s.sameFile(); err != nil {
		return err
	}
	if err := s.health.damage(); err != nil {
		return err
	}
	if !s.health.isFull() {
		return nil
	}
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO health (id, checked_at) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`, fmtTime(time.Now()))
		return err
	})
}

// fileKey tells one file from another: a path may come to name another
// file (a restore, a deletion) while deployq runs.
type fileKey struct{ dev, ino uint64 }

func fileID(path string) (fileKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileKey{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, nil
	}
	return fileKey{dev: uint64(st.Dev), ino: st.Ino}, nil
}

// sameFile refuses writes once the database file was deleted or replaced:
// they would go to a file nobody will read again, and deploys that were
// acknowledged would be lost at the next start.
func (s *Store) sameFile() error {
	if s.file == "" || s.id == (fileKey{}) {
		return nil // migrating, or no file identity on this system
	}
	id, err := fileID(s.file)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return queue.Errorf(queue.EUnavailable, "the database file %s was deleted while deployq runs: restore it, then restart deployq", s.file)
	case err != nil:
		return queue.Errorf(queue.EUnavailable, "the database file %s cannot be read: %v", s.file, err)
	case id != s.id:
		return queue.Errorf(queue.EUnavailable, "the database file %s was replaced while deployq runs: restart deployq to use the new one", s.file)
	}
	return nil
}

// checkIntegrity runs SQLite's quick_check: a damaged database is said,
// loudly, rather than found out deploy by deploy.
func (s *Store) checkIntegrity(ctx context.Context) error { return quickCheck(ctx, s.r) }

// quickCheck runs SQLite's quick_check on db.
func quickCheck(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `PRAGMA quick_check`)
	if err != nil {
		return fmt.Errorf("the database is damaged or not a database (%w): restore it from a backup", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return err
		}
		if p != "ok" {
			problems = append(problems, p)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("the database is damaged or not a database (%w): restore it from a backup", err)
	}
	if len(problems) > 0 {
		if len(problems) > 3 {
			problems = append(problems[:3], fmt.Sprintf("and %d more", len(problems)-3))
		}
		return fmt.Errorf("the database is damaged (%s): restore it from a backup", strings.Join(problems, "; "))
	}
	return nil
}
