package queue

import (
	"context"
	"time"
)

type lapsedKey struct{}

// WithLapsed returns ctx carrying now: a Store saves a deploy leaving
// running with that context only if its stored lease ended before now.
// The server that ends a deploy another server stopped renewing writes
// with it, so that the end and a renewal can never both land.
func WithLapsed(ctx context.Context, now time.Time) context.Context {
	return context.WithValue(ctx, lapsedKey{}, now)
}

// LapsedOf returns the time a context from WithLapsed carries, and
// whether it carries one.
func LapsedOf(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(lapsedKey{}).(time.Time)
	return t, ok
}

type holderKey struct{}

// Holder is the server that runs a deploy, as its writes say: a Store
// makes a write with a context from WithHolder only while the deploy
// runs on Server under a lease that has not ended at Now.
type Holder struct {
	Server string
	Now    time.Time
}

// WithHolder returns ctx carrying h: log lines (AppendLog) and a change
// of a running deploy (UpdateDeploy) written with it are kept only while
// their deploy runs on h.Server with a lease not ended at h.Now
// (EConflict if not: nothing is kept), so that a server that lost a
// deploy changes nothing of it.
func WithHolder(ctx context.Context, h Holder) context.Context {
	return context.WithValue(ctx, holderKey{}, h)
}

// HolderOf returns the holder a context from WithHolder carries, and
// whether it carries one.
func HolderOf(ctx context.Context) (Holder, bool) {
	h, ok := ctx.Value(holderKey{}).(Holder)
	return h, ok
}
