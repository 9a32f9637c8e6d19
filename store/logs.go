package store

import (
	"context"
	"database/sql"

	"github.com/deployq/deployq/queue"
)

func (s *Store) insertLines(ctx context.Context, tx *sql.Tx, lines []queue.LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	if len(lines) >= logRows {
		many := tx.StmtContext(ctx, s.insertLogs)
		args := make([]any, 0, 6*logRows)
		for len(lines) >= logRows {
			args = args[:0]
			for _, l := range lines[:logRows] {
				args = append(args, l.DeployID, l.Seq, fmtTime(l.Time), l.Stream, l.Host, l.Text)
			}
			if _, err := many.ExecContext(ctx, args...); err != nil {
				return err
			}
			lines = lines[logRows:]
		}
	}
	one := tx.StmtContext(ctx, s.insertLog)
	for _, l := range lines {
		if _, err := one.ExecContext(ctx, l.DeployID, l.Seq, fmtTime(l.Time), l.Stream, l.Host, l.Text); err != nil {
			return err
		}
	}
	return nil
}

// AppendLog implements queue.Store.
func (s *Store) AppendLog(ctx context.Context, lines []queue.LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error { return s.insertLines(ctx, tx, lines) })
}

// Log implements queue.Store.
func (s *Store) Log(ctx context.Context, id, after int64, limit int) ([]queue.LogLine, error) {
	if limit <= 0 {
		limit = 10000
	}
	rows, err := s.r.QueryContext(ctx, `SELECT seq, time, stream, host, text FROM log_lines
		WHERE deploy_id = ? AND seq > ? ORDER BY seq LIMIT ?`, id, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []queue.LogLine
	for rows.Next() {
		l := queue.LogLine{DeployID: id}
		var t sql.NullString
		if err := rows.Scan(&l.Seq, &t, &l.Stream, &l.Host, &l.Text); err != nil {
			return nil, err
		}
		l.Time = parseTime(t)
		out = append(out, l)
	}
	return out, rows.Err()
}

// LastLogSeq implements queue.Store.
func (s *Store) LastLogSeq(ctx context.Context, id int64) (int64, error) {
	var n int64
	err := s.lastLogSeq.QueryRowContext(ctx, id).Scan(&n)
	return n, err
}
