package store

import (
	"context"
	"database/sql"
	"errors"
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
	mu   sync.Mutex
	full bool
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

// Health implements queue.Store: after a write failed for want of space,
// it writes one small row to see whether space came back.
func (s *Store) Health(ctx context.Context) error {
	if !s.health.isFull() {
		return nil
	}
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO health (id, checked_at) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`, fmtTime(time.Now()))
		return err
	})
}
