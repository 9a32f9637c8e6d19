package postgres

import (
	"cmp"
	"context"
	"slices"

	"github.com/deployq/deployq/queue"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Creates of deploys go in batches (group commit, see batcher): four
// batches at once at most, 64 deploys each. Two at once left a burst's
// last acknowledgements behind the lanes' starts; eight gained little.
const (
	createLeaders = 4
	createBatch   = 64
)

// creation is a deploy to write, and then how that ended.
type creation struct {
	ctx context.Context // its values: the letters it owes, the key it records
	d   *queue.Deploy
	e   queue.AuditEntry
	err error
}

// writeCreates writes the deploys of batch in one transaction, and sets
// how each ended. If that transaction fails, each is written alone, so
// that each gets its own answer (a key recorded already, a lane that has
// a running deploy, a database down). The batch goes in lane order, each
// lane's deploys as they came: the lanes' rows are locked in one order
// by every batch, and two batches never wait for each other in a circle.
func (s *Store) writeCreates(batch []*creation) {
	if len(batch) == 1 {
		c := batch[0]
		c.err = s.createOne(c.ctx, c.d, c.e)
		return
	}
	order := slices.Clone(batch)
	slices.SortStableFunc(order, func(a, b *creation) int {
		return cmp.Or(cmp.Compare(a.d.App, b.d.App), cmp.Compare(a.d.Env, b.d.Env))
	})
	ids := make([][2]int64, len(order)) // id, number
	// Its callers gave their deploys to be written: no one of them ends
	// the wait for a connection, which writeTimeout bounds.
	wctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	err := s.write(wctx, func(ctx context.Context, conn *pgxpool.Conn) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			for i, c := range order {
				if o := queue.OnceOf(c.ctx); o != nil {
					b.Queue(`INSERT INTO once_keys (key) VALUES ($1) ON CONFLICT (key) DO NOTHING`, o.Key).Exec(func(tag pgconn.CommandTag) error {
						if tag.RowsAffected() == 0 {
							return queue.Errorf(queue.EDuplicate, "%s was done already", o.Key)
						}
						return nil
					})
				}
				b.Queue(createSQL, createArgs(c.d, c.e)...).QueryRow(func(row pgx.Row) error {
					return row.Scan(&ids[i][0], &ids[i][1])
				})
			}
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
			var letters []queue.Letter
			for i, c := range order {
				if queue.HasLetters(c.ctx) {
					d := *c.d
					d.ID, d.Number = ids[i][0], ids[i][1]
					letters = append(letters, queue.LettersOf(c.ctx, &d)...)
				}
			}
			// the keys' advisory locks, in one order too
			slices.SortStableFunc(letters, func(a, b queue.Letter) int { return cmp.Compare(a.Key, b.Key) })
			return addLetters(ctx, tx, letters)
		})
	})
	if err != nil {
		for _, c := range batch {
			c.err = s.createOne(c.ctx, c.d, c.e)
		}
		return
	}
	for i, c := range order {
		c.d.ID, c.d.Number = ids[i][0], ids[i][1]
		if o := queue.OnceOf(c.ctx); o != nil {
			o.Recorded()
		}
	}
}
