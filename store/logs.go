package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"

	"github.com/deployq/deployq/queue"
)

// insertChunk stores lines of one deploy as one chunk; one that was
// stored already (the same first line) is left as it is.
func insertChunk(ctx context.Context, tx *sql.Tx, lines []queue.LogLine, seal bool) error {
	_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO log_chunks (deploy_id, first_seq, last_seq, lines, raw, sealed, data)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, lines[0].DeployID, lines[0].Seq, lines[len(lines)-1].Seq, len(lines), textBytes(lines),
		seal, encodeChunk(lines, seal))
	return err
}

// appendLines stores lines of one or more deploys, in order for each.
func appendLines(ctx context.Context, tx *sql.Tx, lines []queue.LogLine) error {
	for len(lines) > 0 {
		n := 1
		for n < len(lines) && lines[n].DeployID == lines[0].DeployID {
			n++
		}
		if err := appendDeploy(ctx, tx, lines[0].DeployID, lines[:n], false); err != nil {
			return err
		}
		lines = lines[n:]
	}
	return nil
}

// appendDeploy stores lines of deploy id. They wait in small plain
// chunks until the deploy's waiting lines hold sealBytes of text; then
// they are sealed together into compressed chunks. When the deploy is
// done writing (end), what waits is sealed now: compressed, or if it is
// short, as it is, for the packer.
func appendDeploy(ctx context.Context, tx *sql.Tx, id int64, lines []queue.LogLine, end bool) error {
	var waiting int
	err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(raw), 0) FROM log_chunks WHERE deploy_id = ? AND sealed = 0`, id).Scan(&waiting)
	if err != nil {
		return err
	}
	if small := waiting+textBytes(lines) < packBelow; !end && waiting+textBytes(lines) < sealBytes || end && small {
		if len(lines) > 0 {
			if err := insertChunk(ctx, tx, lines, false); err != nil {
				return err
			}
		}
		if end { // a short log: the packer compresses it with others
			_, err = tx.ExecContext(ctx, `UPDATE log_chunks SET sealed = 1 WHERE deploy_id = ? AND sealed = 0`, id)
		}
		return err
	}
	all, err := waitingLines(ctx, tx, id)
	if err != nil {
		return err
	}
	all = append(all, lines...)
	if len(all) == 0 {
		return nil
	}
	slices.SortStableFunc(all, func(a, b queue.LogLine) int { return int(a.Seq - b.Seq) })
	all = slices.CompactFunc(all, func(a, b queue.LogLine) bool { return a.Seq == b.Seq })
	if _, err := tx.ExecContext(ctx, `DELETE FROM log_chunks WHERE deploy_id = ? AND sealed = 0`, id); err != nil {
		return err
	}
	for len(all) > 0 {
		n, size := 0, 0
		for n < len(all) && size < sealBytes {
			size += len(all[n].Text)
			n++
		}
		if err := insertChunk(ctx, tx, all[:n], size >= sealBytes || end); err != nil {
			return err
		}
		all = all[n:]
	}
	return nil
}

// waitingLines reads the lines of deploy id that wait in plain chunks.
func waitingLines(ctx context.Context, tx *sql.Tx, id int64) ([]queue.LogLine, error) {
	rows, err := tx.QueryContext(ctx, `SELECT data FROM log_chunks WHERE deploy_id = ? AND sealed = 0 ORDER BY first_seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []queue.LogLine
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		lines, err := decodeChunk(id, data)
		if err != nil {
			return nil, err
		}
		out = append(out, lines...)
	}
	return out, rows.Err()
}

// AppendLog implements queue.Store.
func (s *Store) AppendLog(ctx context.Context, lines []queue.LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	h, fenced := queue.HolderOf(ctx)
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if fenced {
			if err := heldBy(ctx, tx, lines, h); err != nil {
				return err
			}
		}
		return appendLines(ctx, tx, lines)
	})
}

// heldBy is nil if the deploys of lines all run on h's server under a
// lease not ended, EConflict if not (a server that lost a deploy adds
// nothing to its log).
func heldBy(ctx context.Context, tx *sql.Tx, lines []queue.LogLine, h queue.Holder) error {
	seen := map[int64]bool{}
	for _, l := range lines {
		if seen[l.DeployID] {
			continue
		}
		seen[l.DeployID] = true
		var n int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM deploys WHERE id = ? AND state IN ('running', 'verifying') AND server = ? AND lease_until >= ?`,
			l.DeployID, h.Server, fmtSortable(h.Now)).Scan(&n)
		if err != nil {
			return err
		}
		if n == 0 {
			return queue.Errorf(queue.EConflict, "deploy #%d no longer runs on server %s: its lines are not kept", l.DeployID, h.Server)
		}
	}
	return nil
}

// Log implements queue.Store.
func (s *Store) Log(ctx context.Context, id, after int64, limit int) ([]queue.LogLine, error) {
	if limit <= 0 {
		limit = 10000
	}
	rows, err := s.logChunks.QueryContext(ctx, id, after)
	if err != nil {
		return nil, err
	}
	var parts []chunkPart
	got := 0
	for rows.Next() && got < limit {
		var p chunkPart
		var lines int
		if err := rows.Scan(&p.data, &p.pack, &p.off, &p.len, &lines); err != nil {
			rows.Close()
			return nil, err
		}
		parts = append(parts, p)
		got += lines
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	var out []queue.LogLine
	last := after
	pack := func(pk int64) ([]byte, error) { return s.packed(ctx, pk) }
	for _, p := range parts {
		lines, err := p.lines(id, pack)
		if err != nil {
			return nil, err
		}
		for _, l := range lines {
			if l.Seq > last && len(out) < limit {
				out = append(out, l)
				last = l.Seq
			}
		}
	}
	return out, nil
}

// LastLogSeq implements queue.Store.
func (s *Store) LastLogSeq(ctx context.Context, id int64) (int64, error) {
	var n int64
	err := s.lastLogSeq.QueryRowContext(ctx, id).Scan(&n)
	return n, err
}
