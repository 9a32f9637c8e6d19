package store

import (
	"context"
	"database/sql"

	"github.com/deployq/deployq/queue"
)

// MarkBad implements queue.Store.
func (s *Store) MarkBad(ctx context.Context, b *queue.BadSHA) error {
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO bad_shas (app, sha, reason, user_name, at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (app, sha) DO UPDATE SET reason = excluded.reason, user_name = excluded.user_name, at = excluded.at`,
			b.App, b.SHA, b.Reason, b.User, fmtSortable(b.At))
		return err
	})
}

// UnmarkBad implements queue.Store.
func (s *Store) UnmarkBad(ctx context.Context, app, sha string) error {
	return s.deleteSome(ctx, queue.Errorf(queue.ENotFound, "%s is not marked bad for %s", queue.ShortSHA(sha), app),
		`DELETE FROM bad_shas WHERE app = ? AND sha = ?`, app, sha)
}

// BadSHAs implements queue.Store.
func (s *Store) BadSHAs(ctx context.Context, app string) ([]*queue.BadSHA, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT app, sha, reason, user_name, at FROM bad_shas WHERE ? = '' OR app = ?
		ORDER BY at DESC, app, sha`, app, app)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*queue.BadSHA
	for rows.Next() {
		var b queue.BadSHA
		var at sql.NullString
		if err := rows.Scan(&b.App, &b.SHA, &b.Reason, &b.User, &at); err != nil {
			return nil, err
		}
		b.At = parseTime(at)
		out = append(out, &b)
	}
	return out, rows.Err()
}
