package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/deployq/deployq/queue"
	"github.com/jackc/pgx/v5"
)

// lineArrays are lines as the columns of unnest($1..$7).
func lineArrays(lines []queue.LogLine) []any {
	n := len(lines)
	ids, seqs := make([]int64, n), make([]int64, n)
	ats, ns := make([]time.Time, n), make([]int16, n)
	streams, hosts, texts := make([]string, n), make([]string, n), make([][]byte, n)
	for i, l := range lines {
		ids[i], seqs[i] = l.DeployID, l.Seq
		ats[i], ns[i] = stamp(l.Time)
		streams[i], hosts[i], texts[i] = l.Stream, l.Host, []byte(l.Text)
	}
	return []any{ids, seqs, ats, ns, streams, hosts, texts}
}

// insertLinesSQL stores the lines of unnest($1..$7). A line stored
// already (the same deploy and seq: a write retried after its answer was
// lost) is left as it is.
const insertLinesSQL = `INSERT INTO log_lines (deploy_id, seq, at, at_ns, stream, host, text)
	SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::smallint[], $5::text[], $6::text[], $7::bytea[])`

// insertLines stores lines (of one deploy or several) with one statement,
// however many there are.
func insertLines(ctx context.Context, tx pgx.Tx, lines []queue.LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, insertLinesSQL+` ON CONFLICT (deploy_id, seq) DO NOTHING`, lineArrays(lines)...)
	return err
}

// AppendLog implements queue.Store, in one statement. With a holder, the
// rows of the lines' deploys are locked (FOR SHARE) while the lines go
// in: the end of a deploy, written by another server, comes wholly
// before or wholly after them.
func (s *Store) AppendLog(ctx context.Context, lines []queue.LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	args := lineArrays(lines)
	h, fenced := queue.HolderOf(ctx)
	if !fenced {
		return s.writeRow(ctx, nil, insertLinesSQL+` ON CONFLICT (deploy_id, seq) DO NOTHING`, args...)
	}
	var deploys []int64
	for _, l := range lines {
		if !slices.Contains(deploys, l.DeployID) {
			deploys = append(deploys, l.DeployID)
		}
	}
	var held int
	err := s.writeRow(ctx, []any{&held}, `WITH held AS (
			SELECT id FROM deploys WHERE id = ANY($8) AND state IN ('running', 'verifying') AND server = $9 AND lease_until >= $10 FOR SHARE),
		ins AS (`+insertLinesSQL+` WHERE (SELECT count(*) FROM held) = $11 ON CONFLICT (deploy_id, seq) DO NOTHING)
		SELECT count(*) FROM held`, append(args, deploys, h.Server, h.Now, len(deploys))...)
	if err == nil && held != len(deploys) {
		return queue.Errorf(queue.EConflict, "a deploy of these lines no longer runs on server %s: they are not kept", h.Server)
	}
	return err
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
	l := &logEnd{id: id}
	if err := batched(ctx, s, s.logEnds, l); err != nil {
		return 0, err
	}
	return l.seq, l.err
}

// logEnd is a read of where the log of deploy id ends, and then what it
// found.
type logEnd struct {
	id, seq int64
	err     error
}

// readLogEnds reads where the logs of batch end, in one statement.
func (s *Store) readLogEnds(ctx context.Context, batch []*logEnd) {
	ids := make([]int64, len(batch))
	for i, l := range batch {
		ids[i] = l.id
	}
	seqs, err := query(ctx, s, func(row scanner) (int64, error) {
		var seq int64
		return seq, row.Scan(&seq)
	}, `SELECT coalesce((SELECT max(seq) FROM log_lines WHERE deploy_id = l.id), 0)
		FROM unnest($1::bigint[]) WITH ORDINALITY AS l(id, i) ORDER BY l.i`, ids)
	if err == nil && len(seqs) != len(batch) {
		err = fmt.Errorf("postgres store: %d log ends read for %d deploys", len(seqs), len(batch))
	}
	for i, l := range batch {
		if err != nil {
			l.err = err
		} else {
			l.seq = seqs[i]
		}
	}
}
