package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/deployq/deployq/queue"
	"github.com/jackc/pgx/v5"
)

// metaPruned marks a deploy whose log was pruned, with the date.
const metaPruned = "log.pruned"

// pruneBatch is how many deploys one prune transaction handles: short,
// so deploys' own writes go between them.
const pruneBatch = 50

var errDryRun = errors.New("dry run")

// PruneLogs implements queue.Store. The VACUUM that ends a prune makes
// the space of the lines removed free for new lines, and gives the file
// system back the empty pages at the end of the table: Freed counts
// those, and is often 0 (PostgreSQL keeps the rest for new lines).
func (s *Store) PruneLogs(ctx context.Context, p queue.Prune) (queue.PruneReport, error) {
	var rep queue.PruneReport
	var before int64
	if err := s.queryRow(ctx, []any{&before}, `SELECT pg_total_relation_size('log_lines')`); err != nil {
		return rep, err
	}
	for after := int64(0); ; { // deploy ids are taken in order
		ids, err := s.prunable(ctx, p, after)
		if err != nil {
			return rep, err
		}
		if len(ids) == 0 {
			break
		}
		after = ids[len(ids)-1]
		var batch queue.PruneReport // what this batch removed (or would)
		err = s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			for _, id := range ids {
				lines, bytes, err := pruneLog(ctx, tx, id, p)
				if err != nil {
					return err
				}
				if lines > 0 {
					batch.Deploys++
					batch.Lines += lines
					batch.Bytes += bytes
				}
			}
			if p.DryRun {
				return errDryRun // nothing stays
			}
			return nil
		})
		if err != nil && !errors.Is(err, errDryRun) {
			return rep, err
		}
		rep.Deploys, rep.Lines, rep.Bytes = rep.Deploys+batch.Deploys, rep.Lines+batch.Lines, rep.Bytes+batch.Bytes
	}
	if p.DryRun || rep.Deploys == 0 {
		return rep, nil
	}
	if err := s.vacuum(ctx); err != nil {
		return rep, err
	}
	var now int64
	err := s.queryRow(ctx, []any{&now}, `SELECT pg_total_relation_size('log_lines')`)
	rep.Freed = max(0, before-now)
	return rep, err
}

// vacuum runs VACUUM on the log table (it cannot run in a transaction).
func (s *Store) vacuum(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	_, err := s.pool.Exec(ctx, `VACUUM log_lines`)
	return s.fail(ctx, err)
}

// prunable returns the next deploys, after id `after`, whose logs may be
// pruned: ended before p.Before, not pruned yet.
func (s *Store) prunable(ctx context.Context, p queue.Prune, after int64) ([]int64, error) {
	at, ns := stamp(p.Before)
	q := `SELECT id FROM deploys d WHERE id > $1 AND state IN ('succeeded', 'failed', 'canceled', 'interrupted', 'superseded')
		AND finished_at IS NOT NULL AND (finished_at, finished_ns) < ($2, $3)
		AND NOT EXISTS (SELECT 1 FROM deploy_meta m WHERE m.deploy_id = d.id AND m.key = $4)`
	args := []any{after, at, ns, metaPruned}
	if p.App != "" {
		args = append(args, p.App)
		q += ` AND app = $` + strconv.Itoa(len(args))
	}
	if p.Env != "" {
		args = append(args, p.Env)
		q += ` AND env = $` + strconv.Itoa(len(args))
	}
	args = append(args, pruneBatch)
	q += ` ORDER BY id LIMIT $` + strconv.Itoa(len(args))
	return query(ctx, s, func(r scanner) (int64, error) {
		var id int64
		return id, r.Scan(&id)
	}, q, args...)
}

// pruneLog replaces the log of deploy id by its last p.Keep lines, after
// a line that says what went (in the place of the last line that went),
// and marks it pruned. It returns the lines and bytes removed.
func pruneLog(ctx context.Context, tx pgx.Tx, id int64, p queue.Prune) (lines, bytes int64, err error) {
	date := p.Now.UTC().Format("2006-01-02")
	if _, err := tx.Exec(ctx, `INSERT INTO deploy_meta (deploy_id, key, value) VALUES ($1, $2, $3)
		ON CONFLICT (deploy_id, key) DO UPDATE SET value = excluded.value`, id, metaPruned, date); err != nil {
		return 0, 0, err
	}
	keep := max(p.Keep, 0)
	// the lines before the first of the last keep go: all when keep is 0
	var last, kept int64
	err = tx.QueryRow(ctx, `WITH kept AS (SELECT seq FROM log_lines WHERE deploy_id = $1 ORDER BY seq DESC LIMIT $2),
		gone AS (DELETE FROM log_lines WHERE deploy_id = $1 AND seq < coalesce((SELECT min(seq) FROM kept), 9223372036854775807)
			RETURNING seq, length(text) AS size)
		SELECT count(*), coalesce(sum(size), 0), coalesce(max(seq), 0), (SELECT count(*) FROM kept) FROM gone`,
		id, keep).Scan(&lines, &bytes, &last, &kept)
	if err != nil || lines == 0 {
		return 0, 0, err
	}
	notice := queue.LogLine{DeployID: id, Seq: last, Time: p.Now.UTC(), Stream: queue.StreamSystem,
		Text: fmt.Sprintf("log pruned on %s: %d earlier lines (%s) removed; the last %d are kept",
			date, lines, queue.Size(bytes), kept)}
	return lines, bytes, insertLines(ctx, tx, []queue.LogLine{notice})
}
