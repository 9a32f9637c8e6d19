package postgres

import (
	"context"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/jackc/pgx/v5"
)

// insertLines stores lines (of one deploy or several) with one statement,
// however many there are. A line stored already (the same deploy and
// seq: a write retried after its answer was lost) is left as it is.
func insertLines(ctx context.Context, tx pgx.Tx, lines []queue.LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	n := len(lines)
	ids, seqs := make([]int64, n), make([]int64, n)
	ats, ns := make([]time.Time, n), make([]int16, n)
	streams, hosts, texts := make([]string, n), make([]string, n), make([][]byte, n)
	for i, l := range lines {
		ids[i], seqs[i] = l.DeployID, l.Seq
		ats[i], ns[i] = stamp(l.Time)
		streams[i], hosts[i], texts[i] = l.Stream, l.Host, []byte(l.Text)
	}
	_, err := tx.Exec(ctx, `INSERT INTO log_lines (deploy_id, seq, at, at_ns, stream, host, text)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::smallint[], $5::text[], $6::text[], $7::bytea[])
		ON CONFLICT (deploy_id, seq) DO NOTHING`, ids, seqs, ats, ns, streams, hosts, texts)
	return err
}

// AppendLog implements queue.Store.
func (s *Store) AppendLog(ctx context.Context, lines []queue.LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	h, fenced := queue.HolderOf(ctx)
	return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if fenced {
			if err := heldBy(ctx, tx, lines, h); err != nil {
				return err
			}
		}
		return insertLines(ctx, tx, lines)
	})
}

// heldBy is nil if the deploys of lines all run on h's server under a
// lease not ended, EConflict if not (a server that lost a deploy adds
// nothing to its log). Their rows
// are locked until the lines are in: the end of a deploy, written by
// another server, comes wholly before or wholly after them.
func heldBy(ctx context.Context, tx pgx.Tx, lines []queue.LogLine, h queue.Holder) error {
	ids := map[int64]bool{}
	var list []int64
	for _, l := range lines {
		if !ids[l.DeployID] {
			ids[l.DeployID] = true
			list = append(list, l.DeployID)
		}
	}
	rows, err := tx.Query(ctx, `SELECT id FROM deploys WHERE id = ANY($1) AND state = 'running' AND server = $2 AND lease_until >= $3
		FOR SHARE`, list, h.Server, h.Now)
	if err != nil {
		return err
	}
	held, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	for _, id := range held {
		delete(ids, id)
	}
	for id := range ids {
		return queue.Errorf(queue.EConflict, "deploy #%d no longer runs on server %s: its lines are not kept", id, h.Server)
	}
	return nil
}

// Log implements queue.Store. A limit of 0 or less means 10000.
func (s *Store) Log(ctx context.Context, id, after int64, limit int) ([]queue.LogLine, error) {
	if limit <= 0 {
		limit = 10000
	}
	return query(ctx, s, func(r scanner) (queue.LogLine, error) {
		l := queue.LogLine{DeployID: id}
		var at time.Time
		var ns int16
		var text []byte
		err := r.Scan(&l.Seq, &at, &ns, &l.Stream, &l.Host, &text)
		l.Time, l.Text = unstamp(at, ns), string(text)
		return l, err
	}, `SELECT seq, at, at_ns, stream, host, text FROM log_lines WHERE deploy_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
		id, after, limit)
}

// LastLogSeq implements queue.Store.
func (s *Store) LastLogSeq(ctx context.Context, id int64) (int64, error) {
	var n int64
	err := s.queryRow(ctx, []any{&n}, `SELECT coalesce(max(seq), 0) FROM log_lines WHERE deploy_id = $1`, id)
	return n, err
}
