package store

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strings"

	"github.com/deployq/deployq/queue"
)

// PutFreeze implements queue.Store.
func (s *Store) PutFreeze(ctx context.Context, f *queue.Freeze) error {
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO freezes (env, owner, reason, created_at, ends_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (env) DO UPDATE SET owner = excluded.owner,
			reason = excluded.reason, created_at = excluded.created_at, ends_at = excluded.ends_at`,
			f.Env, f.Owner, f.Reason, fmtTime(f.CreatedAt), nullTime(f.EndsAt))
		return err
	})
}

// DeleteFreeze implements queue.Store.
func (s *Store) DeleteFreeze(ctx context.Context, env string) error {
	return s.deleteSome(ctx, queue.Errorf(queue.ENotFound, "%s is not frozen", env), `DELETE FROM freezes WHERE env = ?`, env)
}

// Freezes implements queue.Store.
func (s *Store) Freezes(ctx context.Context) ([]*queue.Freeze, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT env, owner, reason, created_at, ends_at FROM freezes ORDER BY env`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*queue.Freeze
	for rows.Next() {
		var f queue.Freeze
		var created, ends sql.NullString
		if err := rows.Scan(&f.Env, &f.Owner, &f.Reason, &created, &ends); err != nil {
			return nil, err
		}
		f.CreatedAt, f.EndsAt = parseTime(created), parseTime(ends)
		out = append(out, &f)
	}
	return out, rows.Err()
}

// AddApproval implements queue.Store.
func (s *Store) AddApproval(ctx context.Context, a *queue.Approval) error {
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO approvals (deploy_id, user, approve, reason, at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (deploy_id, user) DO UPDATE SET approve = excluded.approve, reason = excluded.reason, at = excluded.at`,
			a.DeployID, a.User, a.Approve, a.Reason, fmtTime(a.At))
		return err
	})
}

// Approvals implements queue.Store.
func (s *Store) Approvals(ctx context.Context, deployID int64) ([]*queue.Approval, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT deploy_id, user, approve, reason, at FROM approvals WHERE deploy_id = ?`, deployID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*queue.Approval
	for rows.Next() {
		var a queue.Approval
		var at sql.NullString
		if err := rows.Scan(&a.DeployID, &a.User, &a.Approve, &a.Reason, &at); err != nil {
			return nil, err
		}
		a.At = parseTime(at)
		out = append(out, &a)
	}
	// in time order, compared as times: the text of two within a second
	// does not sort as they do
	slices.SortFunc(out, func(a, b *queue.Approval) int { return cmp.Or(a.At.Compare(b.At), strings.Compare(a.User, b.User)) })
	return out, rows.Err()
}
