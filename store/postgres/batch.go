package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// The batches of the calls a burst makes many of at once (the deploys
// created, the lanes' looks for their next deploy, where logs end, bad
// shas): two batches of a kind at once, 128 calls each. Fewer batches,
// bigger, keep the cores of a small database host for the work itself;
// two rather than one, so that a call waits for one batch under way at
// most, not a queue. Moves have their own (moves.go).
const (
	callLeaders = 2
	callBatch   = 128
)

// batcher gathers the calls of one kind this server makes at once into
// batches of at most size, each written (or read) in one round trip by
// write. Under a burst, a call then costs the database one statement in
// a batch rather than a transaction and a round trip of its own. At most
// leaders batches of a kind are under way at once, so that one kind (a
// burst's creates) does not take every connection and core while
// another (the lanes' starts and ends) waits. A call that comes alone is
// made alone, at once.
//
// No goroutine of its own: a caller that finds fewer than leaders
// batches under way takes the waiting calls (its own among them) and
// makes them, then hands that on to a caller still waiting.
type batcher[T any] struct {
	leaders, size int
	write         func(ctx context.Context, batch []*T) // makes the calls; each says how it ended
	first         func(call *T) bool                    // if set, the calls it is true of go in the next batch before the others

	mu      sync.Mutex
	waiting []*waiter[T]
	writing int // callers that make batches: at most leaders
}

// waiter is a call waiting to be made, or being made.
type waiter[T any] struct {
	call    *T
	wake    chan struct{} // (1) made, or handed the making
	leading bool          // under batcher.mu: this caller makes batches
	done    bool          // under batcher.mu
}

func (w *waiter[T]) signal() {
	select {
	case w.wake <- struct{}{}:
	default: // it has a wake-up already; it looks at leading and done then
	}
}

// do makes call, in a batch with the calls made meanwhile, and returns
// once it is made.
func (b *batcher[T]) do(call *T) {
	w := &waiter[T]{call: call, wake: make(chan struct{}, 1)}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.waiting = append(b.waiting, w)
	if b.writing < b.leaders {
		b.writing++
		w.leading = true
	}
	for !w.leading && !w.done {
		b.wait(w)
	}
	for w.leading {
		if w.done {
			b.handOn()
			break
		}
		n := min(len(b.waiting), b.size)
		if n == 0 { // its own is in another caller's batch
			b.wait(w)
			continue
		}
		if b.first != nil { // those first, each kind in the order it came
			slices.SortStableFunc(b.waiting, func(x, y *waiter[T]) int {
				fx, fy := b.first(x.call), b.first(y.call)
				switch {
				case fx && !fy:
					return -1
				case fy && !fx:
					return 1
				}
				return 0
			})
		}
		batch := b.waiting[:n]
		b.waiting = slices.Clone(b.waiting[n:])
		calls := make([]*T, n)
		for i, x := range batch {
			calls[i] = x.call
		}
		b.mu.Unlock()
		b.make(calls)
		b.mu.Lock()
		for _, x := range batch {
			x.done = true
			x.signal()
		}
	}
}

// make makes a batch with a context of its own: the callers gave their
// calls to be made, and none of them ends the batch for the others (its
// wait for a connection included); writeTimeout bounds it.
func (b *batcher[T]) make(calls []*T) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	b.write(ctx, calls)
}

// wait waits, without the lock, for w to be made or handed the making.
func (b *batcher[T]) wait(w *waiter[T]) {
	b.mu.Unlock()
	<-w.wake
	b.mu.Lock()
}

// handOn hands the making of batches, from a caller whose call is made,
// to a caller still waiting, if any.
func (b *batcher[T]) handOn() {
	for _, x := range b.waiting {
		if !x.leading {
			x.leading = true
			x.signal()
			return
		}
	}
	b.writing--
}

// batched makes call in b, unless the store is closed or ctx ended.
func batched[T any](ctx context.Context, s *Store, b *batcher[T], call *T) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.do(call)
	return nil
}

// transpose turns rows of values (the arguments of one statement for
// each call of a batch, all of the same types) into one array a column,
// for a statement of the whole batch that unnests them.
func transpose(rows [][]any) []any {
	out := make([]any, len(rows[0]))
	for c := range out {
		switch rows[0][c].(type) {
		case string:
			out[c] = column[string](rows, c)
		case bool:
			out[c] = column[bool](rows, c)
		case int:
			out[c] = column[int](rows, c)
		case int16:
			out[c] = column[int16](rows, c)
		case int64:
			out[c] = column[int64](rows, c)
		case time.Time:
			out[c] = column[time.Time](rows, c)
		case pgtype.Timestamptz:
			out[c] = column[pgtype.Timestamptz](rows, c)
		case pgtype.Text:
			out[c] = column[pgtype.Text](rows, c)
		default:
			panic(fmt.Sprintf("postgres store: a batch's value %d of type %T", c, rows[0][c]))
		}
	}
	return out
}

func column[T any](rows [][]any, c int) []T {
	out := make([]T, len(rows))
	for i, r := range rows {
		out[i] = r[c].(T)
	}
	return out
}
