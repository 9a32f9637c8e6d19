package queue

import (
	"context"
	"sync/atomic"
)

// Once is the key of something that must happen once (a webhook
// delivery, a chat command, a promotion), carried by a context: the first
// write a Store makes with that context also records the key, in the same
// transaction, so the key is recorded exactly when what it caused is
// stored. A crash in between loses neither: the redelivery finds no key
// and does it again. A Store that finds the key recorded already fails
// that write with EDuplicate.
type Once struct {
	Key  string
	done atomic.Bool
}

type onceKey struct{}

// WithOnce returns ctx carrying key (see Once).
func WithOnce(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, onceKey{}, &Once{Key: key})
}

// OnceOf returns the key ctx carries that is not recorded yet, or nil.
// Stores call it on every write, and Recorded once the write committed.
func OnceOf(ctx context.Context) *Once {
	o, _ := ctx.Value(onceKey{}).(*Once)
	if o == nil || o.done.Load() {
		return nil
	}
	return o
}

// Recorded marks the key stored: later writes with the context do not
// record it again.
func (o *Once) Recorded() { o.done.Store(true) }

// WithoutOnce returns ctx without the key it may carry: for a write that
// is not what the key records (a claim made on the way), which must
// neither record it nor be refused for it.
func WithoutOnce(ctx context.Context) context.Context {
	return context.WithValue(ctx, onceKey{}, (*Once)(nil))
}
