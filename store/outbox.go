package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/deployq/deployq/queue"
)

// OutboxAdd implements queue.Store.
func (s *Store) OutboxAdd(ctx context.Context, key, body string) error {
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return addLetters(ctx, tx, []queue.Letter{{Key: key, Body: body}})
	})
}

// addLetters adds messages to the outbox, in the transaction of what owes
// them.
func addLetters(ctx context.Context, tx *sql.Tx, letters []queue.Letter) error {
	now := fmtSortable(time.Now())
	for _, l := range letters {
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (key, body, next_at, created_at) VALUES (?, ?, ?, ?)`, l.Key, l.Body, now, now); err != nil {
			return err
		}
	}
	return nil
}

// outboxClaim is how long OutboxDue's messages stay with their caller:
// until then their next_at is the claim's end, and nobody else gets them.
const outboxClaim = time.Minute

// OutboxDue implements queue.Store. It is a write: the messages it finds
// due are claimed, in the same transaction (SQLite has one writer, so no
// other claim comes between the read and the update).
func (s *Store) OutboxDue(ctx context.Context, prefix string, now time.Time, limit int) ([]queue.OutboxItem, error) {
	var out []queue.OutboxItem
	err := s.tx(queue.WithoutOnce(ctx), func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if out, err = outboxHeads(ctx, tx, prefix, now, limit); err != nil {
			return err
		}
		claimEnd := fmtSortable(now.Add(outboxClaim))
		for _, it := range out {
			if _, err := tx.ExecContext(ctx, `UPDATE outbox SET next_at = ? WHERE id = ?`, claimEnd, it.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// outboxHeads reads, for each key that begins with prefix, its oldest
// message if it is due at now, oldest first, at most limit (below zero:
// all).
func outboxHeads(ctx context.Context, tx *sql.Tx, prefix string, now time.Time, limit int) ([]queue.OutboxItem, error) {
	rows, err := tx.QueryContext(ctx, `SELECT o.id, o.key, o.body, o.attempts, o.next_at FROM outbox o
		WHERE o.id = (SELECT min(id) FROM outbox WHERE key = o.key) AND substr(o.key, 1, length(?1)) = ?1
		AND o.next_at <= ?2 ORDER BY o.id LIMIT ?3`,
		prefix, fmtSortable(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []queue.OutboxItem
	for rows.Next() {
		var it queue.OutboxItem
		var next sql.NullString
		if err := rows.Scan(&it.ID, &it.Key, &it.Body, &it.Attempts, &next); err != nil {
			return nil, err
		}
		it.NextAt = parseTime(next)
		out = append(out, it)
	}
	return out, rows.Err()
}

// OutboxNext implements queue.Store.
func (s *Store) OutboxNext(ctx context.Context, prefix string) (time.Time, bool, error) {
	var next sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT min(next_at) FROM outbox o WHERE o.id = (SELECT min(id) FROM outbox WHERE key = o.key)
		AND substr(o.key, 1, length(?1)) = ?1`, prefix).Scan(&next)
	if err != nil || !next.Valid {
		return time.Time{}, false, err
	}
	t, err := time.Parse("2006-01-02T15:04:05.000000000Z", next.String)
	return t, err == nil, err
}

// OutboxDone implements queue.Store.
func (s *Store) OutboxDone(ctx context.Context, id int64) error {
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE id = ?`, id)
		return err
	})
}

// OutboxRetry implements queue.Store.
func (s *Store) OutboxRetry(ctx context.Context, id int64, next time.Time, lastErr string) error {
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?`,
			fmtSortable(next), lastErr, id)
		return err
	})
}

// Once implements queue.Store.
func (s *Store) Once(ctx context.Context, key string) (bool, error) {
	var n int64
	err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO once_keys (key, at) VALUES (?, ?)`, key, fmtTime(time.Now()))
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	return n == 1, err
}

// Seen implements queue.Store.
func (s *Store) Seen(ctx context.Context, key string) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM once_keys WHERE key = ?`, key).Scan(&n)
	return n > 0, err
}
