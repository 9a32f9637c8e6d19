package store

import (
	"context"
	"database/sql"

	"github.com/deployq/deployq/queue"
)

// Locks implements queue.Store.
func (s *Store) Locks(ctx context.Context) ([]*queue.Lock, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT env, app, owner, reason, created_at, expires_at FROM locks ORDER BY env, app`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*queue.Lock
	for rows.Next() {
		var l queue.Lock
		var created, expires sql.NullString
		if err := rows.Scan(&l.Env, &l.App, &l.Owner, &l.Reason, &created, &expires); err != nil {
			return nil, err
		}
		l.CreatedAt, l.ExpiresAt = parseTime(created), parseTime(expires)
		out = append(out, &l)
	}
	return out, rows.Err()
}

// PutLock implements queue.Store.
func (s *Store) PutLock(ctx context.Context, l *queue.Lock) error {
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO locks (env, app, owner, reason, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (env, app) DO UPDATE SET owner = excluded.owner,
			reason = excluded.reason, created_at = excluded.created_at, expires_at = excluded.expires_at`,
			l.Env, l.App, l.Owner, l.Reason, fmtTime(l.CreatedAt), nullTime(l.ExpiresAt))
		return err
	})
}

// DeleteLock implements queue.Store.
func (s *Store) DeleteLock(ctx context.Context, env, app string) error {
	return s.deleteSome(ctx, queue.Errorf(queue.ENotFound, "no lock on %s", env), `DELETE FROM locks WHERE env = ? AND app = ?`, env, app)
}
