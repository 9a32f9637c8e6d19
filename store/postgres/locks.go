package postgres

import (
	"context"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/jackc/pgx/v5/pgtype"
)

// Locks implements queue.Store: by environment, then app, in byte order.
func (s *Store) Locks(ctx context.Context) ([]*queue.Lock, error) {
	return query(ctx, s, func(r scanner) (*queue.Lock, error) {
		var l queue.Lock
		var created time.Time
		var expires pgtype.Timestamptz
		var createdNs, expiresNs int16
		err := r.Scan(&l.Env, &l.App, &l.Owner, &l.Reason, &created, &createdNs, &expires, &expiresNs)
		l.CreatedAt, l.ExpiresAt = unstamp(created, createdNs), unstampNull(expires, expiresNs)
		return &l, err
	}, `SELECT env, app, owner, reason, created_at, created_ns, expires_at, expires_ns FROM locks ORDER BY env, app`)
}

// PutLock implements queue.Store.
func (s *Store) PutLock(ctx context.Context, l *queue.Lock) error {
	created, createdNs := stamp(l.CreatedAt)
	expires, expiresNs := nullStamp(l.ExpiresAt)
	return s.exec(ctx, `INSERT INTO locks (env, app, owner, reason, created_at, created_ns, expires_at, expires_ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (env, app) DO UPDATE SET owner = excluded.owner,
		reason = excluded.reason, created_at = excluded.created_at, created_ns = excluded.created_ns,
		expires_at = excluded.expires_at, expires_ns = excluded.expires_ns`,
		l.Env, l.App, l.Owner, clean(l.Reason), created, createdNs, expires, expiresNs)
}

// DeleteLock implements queue.Store.
func (s *Store) DeleteLock(ctx context.Context, env, app string) error {
	return s.deleteSome(ctx, queue.Errorf(queue.ENotFound, "no lock on %s", env), `DELETE FROM locks WHERE env = $1 AND app = $2`, env, app)
}
