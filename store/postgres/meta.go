package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/jackc/pgx/v5"
)

// SetMeta implements queue.Store.
func (s *Store) SetMeta(ctx context.Context, id int64, key, value string) error {
	return s.exec(ctx, `INSERT INTO deploy_meta (deploy_id, key, value) VALUES ($1, $2, $3)
		ON CONFLICT (deploy_id, key) DO UPDATE SET value = excluded.value`, id, key, clean(value))
}

// Meta implements queue.Store.
func (s *Store) Meta(ctx context.Context, id int64, key string) (string, error) {
	var v string
	err := s.queryRow(ctx, []any{&v}, `SELECT value FROM deploy_meta WHERE deploy_id = $1 AND key = $2`, id, key)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// Audit implements queue.Store.
func (s *Store) Audit(ctx context.Context, e queue.AuditEntry) error {
	return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error { return insertAudit(ctx, tx, e, e.Target) })
}

// AuditLog implements queue.Store. A limit of 0 or less means 100.
func (s *Store) AuditLog(ctx context.Context, limit int) ([]queue.AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	return query(ctx, s, func(r scanner) (queue.AuditEntry, error) {
		var e queue.AuditEntry
		var at time.Time
		var ns int16
		err := r.Scan(&at, &ns, &e.User, &e.Action, &e.Target, &e.Detail)
		e.Time = unstamp(at, ns)
		return e, err
	}, `SELECT at, at_ns, user_name, action, target, detail FROM audit ORDER BY id DESC LIMIT $1`, limit)
}
