package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/deployq/deployq/queue"
)

// SetMeta implements queue.Store.
func (s *Store) SetMeta(ctx context.Context, id int64, key, value string) error {
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO deploy_meta (deploy_id, key, value) VALUES (?, ?, ?)
			ON CONFLICT (deploy_id, key) DO UPDATE SET value = excluded.value`, id, key, value)
		return err
	})
}

// Meta implements queue.Store.
func (s *Store) Meta(ctx context.Context, id int64, key string) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM deploy_meta WHERE deploy_id = ? AND key = ?`, id, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// Audit implements queue.Store.
func (s *Store) Audit(ctx context.Context, e queue.AuditEntry) error {
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.StmtContext(ctx, s.audit).ExecContext(ctx, fmtTime(e.Time), e.User, e.Action, e.Target, e.Detail)
		return err
	})
}

// AuditLog implements queue.Store.
func (s *Store) AuditLog(ctx context.Context, limit int) ([]queue.AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.r.QueryContext(ctx, `SELECT time, user, action, target, detail FROM audit ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []queue.AuditEntry
	for rows.Next() {
		var e queue.AuditEntry
		var t sql.NullString
		if err := rows.Scan(&t, &e.User, &e.Action, &e.Target, &e.Detail); err != nil {
			return nil, err
		}
		e.Time = parseTime(t)
		out = append(out, e)
	}
	return out, rows.Err()
}
