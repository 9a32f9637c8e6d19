package postgres

import (
	"cmp"
	"context"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// move is a conditional update of deploy id, q with args, that returns
// the deploy's id when it changed it; then what it returned (got, 0 when
// it changed nothing) and how it ended.
type move struct {
	ctx  context.Context
	id   int64
	q    string
	args []any
	got  int64
	err  error
}

// writeMoves makes the moves of batch in one round trip and one
// transaction (a batch of statements runs as one), in the order of their
// deploys. If that fails, each is made alone, so that each gets its own
// answer (a lane that has a running deploy already): none of the batch
// stayed.
func (s *Store) writeMoves(batch []*move) {
	if len(batch) == 1 {
		m := batch[0]
		m.err = s.writeRow(m.ctx, []any{&m.got}, m.q, m.args...)
		return
	}
	order := slices.Clone(batch)
	slices.SortFunc(order, func(a, b *move) int { return cmp.Compare(a.id, b.id) })
	got := make([]int64, len(order))
	wctx, cancel := context.WithTimeout(context.Background(), writeTimeout) // see writeCreates
	defer cancel()
	err := s.write(wctx, func(ctx context.Context, conn *pgxpool.Conn) error {
		b := &pgx.Batch{}
		for i, m := range order {
			b.Queue(m.q, m.args...).QueryRow(func(row pgx.Row) error { return scanOne(row, []any{&got[i]}) })
		}
		return conn.SendBatch(ctx, b).Close()
	})
	if err != nil {
		for _, m := range batch {
			m.err = s.writeRow(m.ctx, []any{&m.got}, m.q, m.args...)
		}
		return
	}
	for i, m := range order {
		m.got = got[i]
	}
}
