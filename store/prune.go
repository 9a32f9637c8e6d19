package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/deployq/deployq/queue"
)

// metaPruned marks a deploy whose log was pruned, with the date.
const metaPruned = "log.pruned"

// pruneBatch is how many deploys one prune transaction handles: short,
// so deploys' own writes go between them.
const pruneBatch = 50

// PruneLogs implements queue.Store.
func (s *Store) PruneLogs(ctx context.Context, p queue.Prune) (queue.PruneReport, error) {
	var rep queue.PruneReport
	before, err := s.pages(ctx)
	if err != nil {
		return rep, err
	}
	after := int64(0)   // deploy ids are taken in order
	var touched []int64 // the packs that pruned logs were in
	for {
		var ids []int64
		var last int64
		if ids, last, err = s.prunable(ctx, p, after); err != nil || last == 0 {
			break
		}
		after = last
		if err = s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			for _, id := range ids {
				lines, bytes, packs, err := pruneLog(ctx, tx, id, p)
				if err != nil {
					return err
				}
				if !p.DryRun {
					touched = append(touched, packs...)
				}
				if lines > 0 {
					rep.Deploys++
					rep.Lines += lines
					rep.Bytes += bytes
				}
			}
			if p.DryRun {
				return errDryRun // nothing stays
			}
			return nil
		}); err != nil && !errors.Is(err, errDryRun) {
			return rep, err
		}
		err = nil
		if !p.DryRun {
			if err := s.giveBack(ctx, 2000); err != nil {
				return rep, err
			}
		}
	}
	if err != nil {
		return rep, err
	}
	if !p.DryRun {
		if err := s.compactPacks(ctx, touched); err != nil {
			return rep, err
		}
		if err := s.Settle(ctx); err != nil {
			return rep, err
		}
	}
	now, err := s.pages(ctx)
	rep.Freed = before - now
	return rep, err
}

var errDryRun = fmt.Errorf("dry run")

// pages is the size of the database file in use, in bytes.
func (s *Store) pages(ctx context.Context) (int64, error) {
	var count, free, size int64
	err := s.r.QueryRowContext(ctx, `SELECT (SELECT page_count FROM pragma_page_count()), (SELECT freelist_count FROM pragma_freelist_count()),
		(SELECT page_size FROM pragma_page_size())`).Scan(&count, &free, &size)
	return count * size, err
}

// prunable returns the next deploys, after id `after`, whose logs may be
// pruned (ended before p.Before, not pruned yet), and the last id it
// looked at (0: none is left).
func (s *Store) prunable(ctx context.Context, p queue.Prune, after int64) (ids []int64, last int64, err error) {
	q := `SELECT id, finished_at FROM deploys d WHERE id > ? AND state IN ('succeeded', 'failed', 'canceled', 'interrupted', 'superseded')
		AND finished_at IS NOT NULL AND substr(finished_at, 1, 19) <= ?
		AND NOT EXISTS (SELECT 1 FROM deploy_meta m WHERE m.deploy_id = d.id AND m.key = ?)`
	// The first 19 characters (to the second) are fixed-width: the text
	// finds every deploy that ended in Before's second or earlier, and
	// the time itself says which ended before it.
	args := []any{after, fmtTime(p.Before)[:19], metaPruned}
	if p.App != "" {
		q += ` AND app = ?`
		args = append(args, p.App)
	}
	if p.Env != "" {
		q += ` AND env = ?`
		args = append(args, p.Env)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY id LIMIT ?`, append(args, pruneBatch)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var at sql.NullString
		if err := rows.Scan(&last, &at); err != nil {
			return nil, 0, err
		}
		if parseTime(at).Before(p.Before) {
			ids = append(ids, last)
		}
	}
	return ids, last, rows.Err()
}

// pruneLog replaces the log of deploy id by its last p.Keep lines, after
// a line that says what went, and marks it pruned. It returns the lines
// and bytes removed, and the packs its log was in.
func pruneLog(ctx context.Context, tx *sql.Tx, id int64, p queue.Prune) (int64, int64, []int64, error) {
	var total, raw int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(lines), 0), coalesce(sum(raw), 0) FROM log_chunks WHERE deploy_id = ?`, id).Scan(&total, &raw); err != nil {
		return 0, 0, nil, err
	}
	mark := func() error {
		_, err := tx.ExecContext(ctx, `INSERT INTO deploy_meta (deploy_id, key, value) VALUES (?, ?, ?)
			ON CONFLICT (deploy_id, key) DO UPDATE SET value = excluded.value`, id, metaPruned, p.Now.UTC().Format("2006-01-02"))
		return err
	}
	if total <= int64(p.Keep) {
		return 0, 0, nil, mark() // nothing to remove
	}
	kept, err := lastLines(ctx, tx, id, p.Keep)
	if err != nil {
		return 0, 0, nil, err
	}
	var keptBytes int64
	for _, l := range kept {
		keptBytes += int64(len(l.Text))
	}
	removed := total - int64(len(kept))
	var seq int64 // the notice comes just before the lines kept, or is the last line
	if len(kept) > 0 {
		seq = kept[0].Seq - 1
	} else if err := tx.QueryRowContext(ctx, `SELECT max(last_seq) FROM log_chunks WHERE deploy_id = ?`, id).Scan(&seq); err != nil {
		return 0, 0, nil, err
	}
	notice := queue.LogLine{DeployID: id, Seq: seq, Time: p.Now.UTC(), Stream: queue.StreamSystem,
		Text: fmt.Sprintf("log pruned on %s: %d earlier lines (%s) removed; the last %d are kept",
			p.Now.UTC().Format("2006-01-02"), removed, queue.Size(raw-keptBytes), len(kept))}
	var packs []int64
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT pack FROM log_chunks WHERE deploy_id = ? AND pack IS NOT NULL`, id)
	if err != nil {
		return 0, 0, nil, err
	}
	for rows.Next() {
		var pk int64
		if err := rows.Scan(&pk); err != nil {
			rows.Close()
			return 0, 0, nil, err
		}
		packs = append(packs, pk)
	}
	if err := rows.Close(); err != nil {
		return 0, 0, nil, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM log_chunks WHERE deploy_id = ?`, id); err != nil {
		return 0, 0, nil, err
	}
	if err := insertChunk(ctx, tx, append([]queue.LogLine{notice}, kept...), true); err != nil {
		return 0, 0, nil, err
	}
	return removed, raw - keptBytes, packs, mark()
}

// lastLines reads the last n lines of a deploy's log.
func lastLines(ctx context.Context, tx *sql.Tx, id int64, n int) ([]queue.LogLine, error) {
	if n <= 0 {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT data, pack, pack_off, pack_len FROM log_chunks WHERE deploy_id = ? ORDER BY first_seq DESC`, id)
	if err != nil {
		return nil, err
	}
	var parts []chunkPart
	for rows.Next() {
		var p chunkPart
		if err := rows.Scan(&p.data, &p.pack, &p.off, &p.len); err != nil {
			rows.Close()
			return nil, err
		}
		parts = append(parts, p)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	pack := func(pk int64) ([]byte, error) { return packText(ctx, tx, pk) } // what the transaction sees
	var got []queue.LogLine
	for _, p := range parts {
		lines, err := p.lines(id, pack)
		if err != nil {
			return nil, err
		}
		got = append(lines, got...)
		if len(got) >= n {
			break
		}
	}
	if len(got) > n {
		got = got[len(got)-n:]
	}
	return got, nil
}
