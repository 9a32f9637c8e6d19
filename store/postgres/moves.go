package postgres

import (
	"cmp"
	"context"
	"slices"

	"github.com/deployq/deployq/queue"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Moves go in batches of up to 256, one batch at a time: one statement
// (movesSQL) makes a batch, and a few big ones cost the database less
// than more small ones at once (which also lock their rows in no common
// order). A move waits for the batch under way, then goes in the next.
const (
	moveLeaders = 1
	moveBatch   = 256
)

// move is a conditional update of deploy id, q with args, that returns
// the deploy's id when it changed it; then what it returned (got, 0 when
// it changed nothing) and how it ended.
type move struct {
	ctx   context.Context
	id    int64
	from  queue.State
	q     string
	args  []any
	lines []queue.LogLine // the holder's lines (in q and args too)
	got   int64
	err   error
}

// starts reports whether m starts a deploy (from queued): what someone
// waits for goes before the other moves of a burst, such as ends.
func (m *move) starts() bool { return m.from == queue.StateQueued }

// moveCols are the values of a move that UpdateDeploy's statement takes
// first ($1 to $24): what it sets, then which deploy, from which state,
// and under which lease.
const moveCols = 24

// movesSQL makes many moves in one statement: the values of each as the
// columns of unnest($1..$24), in UpdateDeploy's order, and the holders'
// lines as those of unnest($25..$31). It returns the ids of the deploys
// it changed. Each deploy at most once: of two rows for one deploy, an
// UPDATE ... FROM would make one.
const movesSQL = `WITH u AS (
	UPDATE deploys d SET ref = m.ref, sha = m.sha, previous_sha = m.previous_sha, state = m.state, force = m.force,
		started_at = m.started_at, started_ns = m.started_ns, finished_at = m.finished_at, finished_ns = m.finished_ns,
		github_deployment_id = m.github_deployment_id, chat_thread = m.chat_thread, error = m.error,
		wait_rule = m.wait_rule, wait_reason = m.wait_reason, wait_until = m.wait_until, wait_until_ns = m.wait_until_ns,
		server = CASE WHEN d.state IN ('running', 'verifying') THEN d.server ELSE m.server END,
		lease_until = CASE WHEN d.state IN ('running', 'verifying') THEN d.lease_until ELSE m.lease_until END,
		lease_until_ns = CASE WHEN d.state IN ('running', 'verifying') THEN d.lease_until_ns ELSE m.lease_until_ns END
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[],
		$6::timestamptz[], $7::smallint[], $8::timestamptz[], $9::smallint[],
		$10::bigint[], $11::text[], $12::text[], $13::text[], $14::text[], $15::timestamptz[], $16::smallint[],
		$17::text[], $18::timestamptz[], $19::smallint[], $20::bigint[], $21::text[], $22::timestamptz[], $23::text[], $24::timestamptz[])
		AS m(ref, sha, previous_sha, state, force, started_at, started_ns, finished_at, finished_ns,
			github_deployment_id, chat_thread, error, wait_rule, wait_reason, wait_until, wait_until_ns,
			server, lease_until, lease_until_ns, id, from_state, lapsed, holder, holder_now)
	WHERE d.id = m.id AND d.state = m.from_state AND (m.lapsed IS NULL OR d.lease_until < m.lapsed)
		AND (m.holder IS NULL OR d.server = m.holder AND d.lease_until >= m.holder_now)
	RETURNING d.id),
ins AS (INSERT INTO log_lines (deploy_id, seq, at, at_ns, stream, host, text)
	SELECT * FROM unnest($25::bigint[], $26::bigint[], $27::timestamptz[], $28::smallint[], $29::text[], $30::text[], $31::bytea[])
		AS l(deploy_id, seq, at, at_ns, stream, host, text)
	WHERE l.deploy_id IN (SELECT id FROM u)
	ON CONFLICT (deploy_id, seq) DO NOTHING)
SELECT id FROM u`

// writeMoves makes the moves of batch in one statement (movesSQL; a batch
// of statements, one a move, when a deploy has two, in the order they
// came), in one round trip and one transaction. If that fails, each is
// made alone, so that each gets its own answer (a lane that has a
// running deploy already): none of the batch stayed.
func (s *Store) writeMoves(ctx context.Context, batch []*move) {
	if len(batch) == 1 {
		m := batch[0]
		m.err = s.writeRow(m.ctx, []any{&m.got}, m.q, m.args...)
		return
	}
	order := slices.Clone(batch)
	slices.SortStableFunc(order, func(a, b *move) int { return cmp.Compare(a.id, b.id) })
	twice := false // a deploy with two moves: each its own statement
	for i := 1; i < len(order); i++ {
		twice = twice || order[i].id == order[i-1].id
	}
	made := map[int64]bool{}
	got := make([]int64, len(order))
	err := s.write(ctx, func(ctx context.Context, conn *pgxpool.Conn) error {
		if twice {
			b := &pgx.Batch{}
			for i, m := range order {
				b.Queue(m.q, m.args...).QueryRow(func(row pgx.Row) error { return scanOne(row, []any{&got[i]}) })
			}
			return conn.SendBatch(ctx, b).Close()
		}
		var lines []queue.LogLine
		for _, m := range order {
			lines = append(lines, m.lines...)
		}
		cols := make([][]any, len(order))
		for i, m := range order {
			cols[i] = m.args[:moveCols] // movesSQL's columns, one value each
		}
		rows, err := conn.Query(ctx, movesSQL, append(transpose(cols), lineArrays(lines)...)...)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		for _, id := range ids {
			made[id] = true
		}
		return err
	})
	if err != nil {
		for _, m := range batch {
			m.err = s.writeRow(m.ctx, []any{&m.got}, m.q, m.args...)
		}
		return
	}
	for i, m := range order {
		if m.got = got[i]; made[m.id] {
			m.got = m.id
		}
	}
}
