package postgres

import (
	"context"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/jackc/pgx/v5/pgtype"
)

// PutFreeze implements queue.Store.
func (s *Store) PutFreeze(ctx context.Context, f *queue.Freeze) error {
	created, createdNs := stamp(f.CreatedAt)
	ends, endsNs := nullStamp(f.EndsAt)
	return s.exec(ctx, `INSERT INTO freezes (env, owner, reason, created_at, created_ns, ends_at, ends_ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (env) DO UPDATE SET owner = excluded.owner,
		reason = excluded.reason, created_at = excluded.created_at, created_ns = excluded.created_ns,
		ends_at = excluded.ends_at, ends_ns = excluded.ends_ns`,
		f.Env, f.Owner, clean(f.Reason), created, createdNs, ends, endsNs)
}

// DeleteFreeze implements queue.Store.
func (s *Store) DeleteFreeze(ctx context.Context, env string) error {
	return s.deleteSome(ctx, queue.Errorf(queue.ENotFound, "%s is not frozen", env), `DELETE FROM freezes WHERE env = $1`, env)
}

// Freezes implements queue.Store: by environment, in byte order.
func (s *Store) Freezes(ctx context.Context) ([]*queue.Freeze, error) {
	return query(ctx, s, func(r scanner) (*queue.Freeze, error) {
		var f queue.Freeze
		var created time.Time
		var ends pgtype.Timestamptz
		var createdNs, endsNs int16
		err := r.Scan(&f.Env, &f.Owner, &f.Reason, &created, &createdNs, &ends, &endsNs)
		f.CreatedAt, f.EndsAt = unstamp(created, createdNs), unstampNull(ends, endsNs)
		return &f, err
	}, `SELECT env, owner, reason, created_at, created_ns, ends_at, ends_ns FROM freezes ORDER BY env`)
}

// AddApproval implements queue.Store.
func (s *Store) AddApproval(ctx context.Context, a *queue.Approval) error {
	at, ns := stamp(a.At)
	return s.exec(ctx, `INSERT INTO approvals (deploy_id, user_name, approve, reason, at, at_ns) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (deploy_id, user_name) DO UPDATE SET approve = excluded.approve, reason = excluded.reason,
		at = excluded.at, at_ns = excluded.at_ns`,
		a.DeployID, a.User, a.Approve, clean(a.Reason), at, ns)
}

// Approvals implements queue.Store: oldest first, then by user.
func (s *Store) Approvals(ctx context.Context, deployID int64) ([]*queue.Approval, error) {
	return query(ctx, s, func(r scanner) (*queue.Approval, error) {
		var a queue.Approval
		var at time.Time
		var ns int16
		err := r.Scan(&a.DeployID, &a.User, &a.Approve, &a.Reason, &at, &ns)
		a.At = unstamp(at, ns)
		return &a, err
	}, `SELECT deploy_id, user_name, approve, reason, at, at_ns FROM approvals WHERE deploy_id = $1
		ORDER BY at, at_ns, user_name`, deployID)
}
