package postgres

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"github.com/deployq/deployq/queue"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// creates gathers the deploys this server creates at once into shared
// transactions (group commit). Under a burst of requests, a deploy then
// costs the database one statement in a transaction of many, rather than
// a transaction and a round trip of its own; and since at most
// maxWriting batches are written at once, the deploys already
// acknowledged start and end meanwhile, rather than waiting behind the
// whole burst for connections and cores. A create that comes alone is
// written alone, at once.
//
// No goroutine of its own: a caller that finds fewer than maxWriting
// batches being written writes the waiting deploys (its own among them),
// then hands the writing on to a caller still waiting.
type creates struct {
	mu      sync.Mutex
	waiting []*creation
	writing int // callers that write batches: at most maxWriting
}

const (
	maxWriting = 4  // batches written at once
	maxBatch   = 64 // deploys in a batch
)

// creation is a deploy waiting to be written, and then how that ended.
type creation struct {
	ctx     context.Context // its values: the letters it owes, the key it records
	d       *queue.Deploy
	e       queue.AuditEntry
	wake    chan struct{} // (1) written, or handed the writing
	leading bool          // under creates.mu: this caller writes batches
	done    bool          // under creates.mu: err says how it ended
	err     error
}

func (c *creation) signal() {
	select {
	case c.wake <- struct{}{}:
	default: // it has a wake-up already; it looks at leading and done then
	}
}

// add writes d with its audit entry, in a batch with the deploys created
// meanwhile, and returns when it is written.
func (g *creates) add(ctx context.Context, s *Store, d *queue.Deploy, e queue.AuditEntry) error {
	c := &creation{ctx: ctx, d: d, e: e, wake: make(chan struct{}, 1)}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waiting = append(g.waiting, c)
	if g.writing < maxWriting {
		g.writing++
		c.leading = true
	}
	for !c.leading && !c.done {
		g.wait(c)
	}
	for c.leading {
		if c.done {
			g.handOn()
			break
		}
		batch := g.waiting[:min(len(g.waiting), maxBatch)]
		if len(batch) == 0 { // its own is in another caller's batch
			g.wait(c)
			continue
		}
		g.waiting = slices.Clone(g.waiting[len(batch):])
		g.mu.Unlock()
		s.writeCreates(batch)
		g.mu.Lock()
		for _, b := range batch {
			b.done = true
			b.signal()
		}
	}
	return c.err
}

// wait waits, without the lock, for c to be written or handed the writing.
func (g *creates) wait(c *creation) {
	g.mu.Unlock()
	<-c.wake
	g.mu.Lock()
}

// handOn hands the writing of a caller whose deploy is written to a
// caller still waiting, if any.
func (g *creates) handOn() {
	for _, w := range g.waiting {
		if !w.leading {
			w.leading = true
			w.signal()
			return
		}
	}
	g.writing--
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
